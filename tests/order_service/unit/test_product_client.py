"""How the order service reads the product service's answers: refusals are definitive, silence is not."""

import asyncio
import contextlib
import json
import time
from asyncio import run

import httpx
import pytest

from order_service.clients.product import ProductClient
from order_service.exceptions import (
    OutOfStock,
    ProductBusy,
    ProductFailed,
    ProductRefused,
    ProductRejected,
    ProductUnavailable,
)

HELD = {
    "order_id": 7,
    "status": "held",
    "items": [{"product_id": 1, "name": "Lamp", "quantity": 2, "unit_price": "19.99"}],
    "created_at": "2026-11-25T00:00:00Z",
    "released_at": None,
}


def client(handler, deadline=0.5) -> ProductClient:
    return ProductClient(
        "http://product",
        service_token="tok",
        connect_timeout=0.1,
        read_timeout=0.2,
        deadline=deadline,
        transport=httpx.MockTransport(handler),
    )


def bulkhead(handler, **limits) -> ProductClient:
    """A client whose bulkhead and deadlines the test sets (`max_in_flight`, `queue_timeout`, ...)."""
    return ProductClient(
        "http://product",
        service_token="tok",
        connect_timeout=0.1,
        read_timeout=5,
        transport=httpx.MockTransport(handler),
        **limits,
    )


def envelope(code: str, **details) -> dict:
    return {"error": {"code": code, "message": code, "details": details, "request_id": "r"}}


class TestReserve:
    def test_sends_the_credential_and_reads_names_and_prices(self):
        seen: list[httpx.Request] = []

        def handler(request):
            seen.append(request)
            return httpx.Response(201, json=HELD)

        reservation = run(client(handler).reserve(7, {1: 2}))
        assert seen[0].headers["x-service-token"] == "tok"
        assert seen[0].headers["x-request-id"]
        assert reservation.lines[0].name == "Lamp" and str(reservation.lines[0].unit_price) == "19.99"
        assert not reservation.released

    def test_out_of_stock_is_definitive_and_not_retried(self):
        calls = []

        def handler(request):
            calls.append(request)
            return httpx.Response(409, json=envelope("out_of_stock", product_id=1, requested=2, available=1))

        with pytest.raises(OutOfStock) as raised:
            run(client(handler).reserve(7, {1: 2}))
        assert raised.value.details["product_id"] == 1 and len(calls) == 1

    def test_unknown_product_is_relayed_with_its_code(self):
        def handler(request):
            return httpx.Response(422, json=envelope("unknown_product", product_id=99))

        with pytest.raises(ProductRejected) as raised:
            run(client(handler).reserve(7, {99: 1}))
        assert raised.value.code == "unknown_product" and raised.value.status_code == 422

    def test_a_wrong_credential_is_refused_not_retried(self):
        calls = []

        def handler(request):
            calls.append(request)
            return httpx.Response(403, json=envelope("forbidden"))

        with pytest.raises(ProductRefused):
            run(client(handler).reserve(7, {1: 1}))
        assert len(calls) == 1

    def test_the_key_is_read_under_its_name_or_its_former_one(self):
        current = {**{k: v for k, v in HELD.items() if k != "order_id"}, "reservation_key": 8}
        for answer, key in ((HELD, 7), (current, 8)):
            reserved = run(client(lambda request, answer=answer: httpx.Response(201, json=answer)).reserve(key, {1: 2}))
            assert reserved.reservation_key == key

    def test_the_key_is_sent_under_the_name_every_product_replica_of_the_previous_release_knows(self):
        sent: list[dict] = []

        def handler(request):
            sent.append(json.loads(request.content))
            return httpx.Response(201, json=HELD)

        run(client(handler).reserve(7, {1: 2}))
        assert sent == [{"order_id": 7, "items": [{"product_id": 1, "quantity": 2}]}]

    def test_a_502_is_retried_until_an_answer_comes(self):
        answers = [httpx.Response(502), httpx.Response(503), httpx.Response(201, json=HELD)]

        def handler(request):
            return answers.pop(0)

        assert run(client(handler, deadline=2).reserve(7, {1: 2})).reservation_key == 7

    def test_connections_to_a_dead_replica_are_retried_until_a_live_one_answers(self):
        # Four connections refused, dropped or reset (the dead replica picked again and again), then the live one.
        failures: list[Exception] = [
            httpx.RemoteProtocolError("Server disconnected"),
            httpx.ConnectError("refused"),
            httpx.ReadError("Connection reset by peer"),  # the request reached a replica that was dying
            httpx.WriteError("Broken pipe"),
        ]

        def handler(request):
            if failures:
                raise failures.pop(0)
            return httpx.Response(201, json=HELD)

        assert run(client(handler, deadline=2).reserve(7, {1: 2})).reservation_key == 7

    def test_silence_ends_in_unavailable_within_the_deadline(self):
        def handler(request):
            raise httpx.ConnectError("refused")

        started = time.monotonic()
        with pytest.raises(ProductUnavailable):
            run(client(handler, deadline=0.3).reserve(7, {1: 1}))
        assert time.monotonic() - started < 2.0

    def test_a_read_timeout_is_not_retried(self):
        calls = []

        def handler(request):
            calls.append(request)
            raise httpx.ReadTimeout("slow")

        with pytest.raises(ProductUnavailable):
            run(client(handler, deadline=2).reserve(7, {1: 1}))
        assert len(calls) == 1


class TestBulkhead:
    def test_calls_beyond_the_limit_wait_then_give_up_without_calling(self):
        calls = []

        async def scenario() -> None:
            entered, release = asyncio.Event(), asyncio.Event()

            async def handler(request):
                calls.append(request)
                entered.set()
                await release.wait()
                return httpx.Response(201, json=HELD)

            bounded = bulkhead(handler, deadline=5, max_in_flight=1, queue_timeout=0.2)
            first = asyncio.create_task(bounded.reserve(7, {1: 2}))
            await asyncio.wait_for(entered.wait(), 5)
            with pytest.raises(ProductBusy):  # nothing sent: the caller owes the product service nothing
                await bounded.reserve(8, {1: 1})
            release.set()
            await asyncio.wait_for(first, 5)

        run(scenario())
        assert len(calls) == 1

    def test_a_wait_while_the_product_service_answers_nothing_counts_against_the_deadline(self):
        budgets = []

        async def scenario() -> float:
            entered, release = asyncio.Event(), asyncio.Event()

            async def handler(request):
                if not entered.is_set():
                    entered.set()
                    await release.wait()
                    raise httpx.ReadTimeout("stalled")  # the slot frees, but nothing answered
                budgets.append(request.extensions["timeout"]["read"])
                return httpx.Response(201, json=HELD)

            bounded = bulkhead(handler, deadline=1.0, max_in_flight=1, queue_timeout=5, stall_timeout=0.8)

            async def stuck_first() -> None:
                with contextlib.suppress(ProductUnavailable):
                    await bounded.reserve(7, {1: 2})

            first = asyncio.create_task(stuck_first())
            await asyncio.wait_for(entered.wait(), 5)
            asyncio.get_running_loop().call_later(0.4, release.set)
            started = time.monotonic()
            await bounded.reserve(8, {1: 1})
            waited = time.monotonic() - started
            await asyncio.wait_for(first, 5)
            return waited

        waited = run(scenario())
        # It waited ~0.4 s with no answer from anyone, so it may take only what is left of its 1 s.
        [budget] = budgets
        assert budget <= 1.0 - waited + 0.05, (budget, waited)

    def test_a_stalled_product_service_refuses_waiters_after_the_stall_timeout(self):
        async def scenario() -> float:
            entered, release = asyncio.Event(), asyncio.Event()

            async def stuck(request):
                entered.set()
                await release.wait()
                return httpx.Response(201, json=HELD)

            bounded = bulkhead(stuck, deadline=5, max_in_flight=1, queue_timeout=5, stall_timeout=0.3)
            first = asyncio.create_task(bounded.reserve(7, {1: 2}))
            await asyncio.wait_for(entered.wait(), 5)
            started = time.monotonic()
            with pytest.raises(ProductBusy):
                await bounded.reserve(8, {1: 1})
            waited = time.monotonic() - started
            release.set()
            await asyncio.wait_for(first, 5)
            return waited

        waited = run(scenario())
        assert 0.25 <= waited < 1.0, waited

    def test_a_burst_queues_past_the_stall_timeout_while_answers_keep_coming(self):
        async def scenario() -> int:
            async def slow_but_alive(request):
                await asyncio.sleep(0.1)  # the product service's own pace: each call takes a while, all answer
                return httpx.Response(201, json=HELD)

            bounded = bulkhead(slow_but_alive, deadline=1.0, max_in_flight=2, queue_timeout=5, stall_timeout=0.3)
            reservations = await asyncio.gather(*(bounded.reserve(n, {1: 1}) for n in range(1, 21)))
            return len(reservations)

        started = time.monotonic()
        # 20 calls through 2 slots at 0.1 s each: the last waited ~1 s, far past the stall timeout, and got in.
        assert run(scenario()) == 20
        assert time.monotonic() - started >= 0.9

    def test_an_error_the_product_service_answers_is_told_apart_from_silence(self):
        with pytest.raises(ProductFailed):
            run(client(lambda request: httpx.Response(500, json=envelope("internal_error"))).release(7))


class TestRelease:
    def test_a_release_is_delivered_when_the_answer_says_released(self):
        run(client(lambda request: httpx.Response(200, json={**HELD, "status": "released"})).release(7))

    def test_an_answer_that_still_holds_the_stock_is_not_a_delivered_release(self):
        # What a product replica from before the release fix answered when a reserve committed under its release.
        with pytest.raises(ProductUnavailable):
            run(client(lambda request: httpx.Response(200, json=HELD)).release(7))
