"""The order service's acceptance through the real fleet: two order and two product replicas behind real
nginx, real HTTP between them, MariaDB underneath. The order contract classes run again here; below them
the scenarios only a fleet can stage: a flash sale, an outage, replicas killed mid-stream."""

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from fleet.waiting import FleetError, wait_until
from tests.order_service.integration.test_api import (  # noqa: F401 - collected here again, through nginx
    TestBusinessLimits,
    TestCancelOrder,
    TestIdempotencyKey,
    TestPlaceOrder,
    TestReadOrders,
    admin_headers,
    alice,
    bob,
    product,
)
from tests.product_service.support import assert_error, create_product, get_product
from tests.support.concurrency import burst
from tests.support.fleet import RunningFleet
from tests.support.tokens import TokenMinter
from tests.support.users import Account, login, signed_up

ORDERS = "/api/v0/orders"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@pytest.fixture(scope="module")
def api(fleet: RunningFleet) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    with httpx.Client(base_url=fleet.gateway_url, timeout=TIMEOUT, limits=limits) as client:
        yield client


@pytest.fixture(scope="module")
def orders(api):
    return api


@pytest.fixture(scope="module")
def products(api):
    return api


@pytest.fixture(scope="module")
def minter(fleet: RunningFleet) -> TokenMinter:
    """Tokens signed with the fleet's real key: the services cannot tell them from auth's own."""
    return TokenMinter.from_pem_file(fleet.jwt_private_key_file)


@pytest.fixture(scope="module")
def admin(api, fleet: RunningFleet) -> Account:
    return login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))


def order_body(product_id: int, quantity: int = 1) -> dict[str, Any]:
    return {"items": [{"product_id": product_id, "quantity": quantity}]}


def all_orders(api: httpx.Client, admin: Account) -> list[dict[str, Any]]:
    """Every order of every user, walked page by page as an admin."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = api.get(ORDERS, params=params, headers=admin.headers).json()
        found.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def confirmed_quantity(orders: list[dict[str, Any]], product_id: int) -> int:
    return sum(
        line["quantity"]
        for order in orders
        if order["status"] == "confirmed"
        for line in order["items"]
        if line["product_id"] == product_id
    )


def settled(api: httpx.Client, admin: Account) -> list[dict[str, Any]]:
    """All orders once none is pending (the reconciler has finished what dead replicas left)."""
    snapshot: list[list[dict[str, Any]]] = [[]]

    def none_pending() -> bool:
        snapshot[0] = all_orders(api, admin)
        return all(order["status"] != "pending" for order in snapshot[0])

    wait_until(none_pending, timeout=90, what="every pending order to be settled")
    return snapshot[0]


def assert_invariant(api: httpx.Client, admin: Account, item: dict[str, Any]) -> None:
    """stock_now == stock_initial - sum(quantity of confirmed orders' lines), as API.md states it, once
    requests have settled: no order pending, and every release a failed placement owes delivered by the
    reconciler (it runs every few seconds). Stock lost or invented for good never satisfies it."""
    seen: dict[str, int] = {}

    def holds() -> bool:
        orders = all_orders(api, admin)
        if any(order["status"] == "pending" for order in orders):
            return False
        seen["stock_now"] = get_product(api, item["id"])["stock"]
        seen["confirmed"] = confirmed_quantity(orders, item["id"])
        return seen["stock_now"] == item["stock"] - seen["confirmed"]

    try:
        wait_until(holds, timeout=90, what="the stock invariant to hold")
    except FleetError:
        pytest.fail(f"stock invariant broken for good: started {item['stock']}, {seen}", pytrace=False)


class TestFlashSale:
    def test_forty_users_three_orders_each_against_fifty_in_stock(self, api, admin):
        item = create_product(api, admin.headers, stock=50, price="5.00")
        users = [signed_up(api) for _ in range(40)]
        responses = burst(
            lambda user: api.post(ORDERS, json=order_body(item["id"]), headers=user.headers),
            [user for user in users for _ in range(3)],
        )
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201] * 50 + [409] * 70, statuses
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"out_of_stock"}
        assert get_product(api, item["id"])["stock"] == 0
        orders = settled(api, admin)
        confirmed = [o for o in orders if o["status"] == "confirmed" and o["items"][0]["product_id"] == item["id"]]
        assert len(confirmed) == 50 and confirmed_quantity(orders, item["id"]) == 50


class TestOneUserCannotCrowdOutAnother:
    def test_a_one_line_order_is_not_queued_behind_another_users_flood_of_large_orders(self, api, admin, minter):
        catalogue = [create_product(api, admin.headers, stock=100) for _ in range(100)]
        large = {"items": [{"product_id": item["id"], "quantity": 1} for item in catalogue]}
        hoarder, shopper = (minter.user_headers(user_id=800_000_000 + uuid.uuid4().int % 10**8) for _ in range(2))
        answered_at: list[float] = []

        def place_large(_: int) -> httpx.Response:
            response = api.post(ORDERS, json=large, headers=hoarder)
            answered_at.append(time.monotonic())
            return response

        with ThreadPoolExecutor(max_workers=60) as pool:
            flood = [pool.submit(place_large, n) for n in range(60)]
            wait_until(lambda: len(answered_at) >= 4, timeout=60, what="the flood of large orders to flow")
            sent = time.monotonic()
            single = api.post(ORDERS, json=order_body(catalogue[0]["id"]), headers=shopper)
            answered = time.monotonic()
            statuses = [future.result().status_code for future in flood]

        assert single.status_code == 201, single.text
        assert statuses == [201] * 60
        # In its turn, not behind the queue: the order replicas' call slots go to each user in turn.
        still_queued = sum(1 for moment in answered_at if moment > answered)
        assert answered - sent < 2.0 and still_queued >= 20, (answered - sent, still_queued)


class TestTwoLineOrder:
    def test_second_line_out_of_stock_leaves_the_first_untouched(self, api, admin):
        plenty, scarce = create_product(api, admin.headers, stock=5), create_product(api, admin.headers, stock=1)
        body = {"items": [{"product_id": plenty["id"], "quantity": 2}, {"product_id": scarce["id"], "quantity": 2}]}
        user = signed_up(api)
        error = assert_error(api.post(ORDERS, json=body, headers=user.headers), 409, "out_of_stock")
        assert error["details"]["product_id"] == scarce["id"]
        assert get_product(api, plenty["id"])["stock"] == 5 and get_product(api, scarce["id"])["stock"] == 1


class TestProductServiceOutage:
    def test_orders_get_503_fast_then_work_again_when_it_is_back(self, api, admin, fleet: RunningFleet):
        item = create_product(api, admin.headers, stock=10)
        user = signed_up(api)
        fleet.stop_program("product-1")
        fleet.stop_program("product-2")
        try:
            response = api.post(ORDERS, json=order_body(item["id"]), headers=user.headers)
            assert_error(response, 503, "dependency_unavailable")
            assert response.elapsed.total_seconds() < 2.0, response.elapsed
        finally:
            fleet.start_program("product-1")
            fleet.start_program("product-2")
        assert get_product(api, item["id"])["stock"] == 10
        # Without restarting anything, the next orders go through.
        placed: list[httpx.Response] = []

        def one_goes_through() -> bool:
            placed.append(api.post(ORDERS, json=order_body(item["id"]), headers=user.headers))
            return placed[-1].status_code == 201

        wait_until(one_goes_through, timeout=30, what="an order to be placed after the outage")
        assert_invariant(api, admin, item)  # 9 left, unless an attempt during recovery took and gave back more

    def test_the_gateway_keeps_routing_orders_while_they_answer_503(self, api, admin, fleet: RunningFleet):
        # The order replicas' 503s are their truthful answer about the product service, not their own failure:
        # the gateway must never mark both failed and answer every order request with its own 502.
        item = create_product(api, admin.headers, stock=10)
        user = signed_up(api)
        fleet.stop_program("product-1")
        fleet.stop_program("product-2")
        try:
            answers = []
            for n in range(12):  # far more than max_fails per replica within fail_timeout
                answers.append(api.post(ORDERS, json=order_body(item["id"]), headers=user.headers))
                answers.append(api.get(ORDERS, headers=user.headers))
                answers.append(
                    api.post(ORDERS, json=order_body(item["id"]), headers={**user.headers, "Idempotency-Key": f"k{n}"})
                )
        finally:
            fleet.start_program("product-1")
            fleet.start_program("product-2")
        placements = [r for r in answers if r.request.method == "POST"]
        reads = [r for r in answers if r.request.method == "GET"]
        assert {r.status_code for r in reads} == {200}, [r.text for r in reads if r.status_code != 200][:3]
        for response in placements:
            assert_error(response, 503, "dependency_unavailable")
        order_cut_off = [
            line
            for line in fleet.read_log("gateway").splitlines()
            if "no live upstreams" in line and 'upstream: "http://order' in line
        ]
        assert order_cut_off == []
        assert get_product(api, item["id"])["stock"] == 10


@dataclass
class OrderStream:
    """Users placing orders of one product through the gateway from several threads until stopped."""

    api_url: str
    users: list[Account]
    product_id: int
    created: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for user in self.users:
            thread = threading.Thread(target=self._run, args=(user,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "an order stream thread is stuck"

    @property
    def done(self) -> int:
        return sum(self.statuses.values())

    def _run(self, user: Account) -> None:
        with httpx.Client(base_url=self.api_url, timeout=TIMEOUT) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(ORDERS, json=order_body(self.product_id), headers=user.headers)
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == 201:
                        self.created.append(response.json()["id"])


class TestReplicasKilledDuringOrders:
    def test_every_201_order_is_confirmed_and_the_invariant_holds(self, api, admin, fleet: RunningFleet):
        item = create_product(api, admin.headers, stock=1_000_000)
        stream = OrderStream(fleet.gateway_url, [signed_up(api) for _ in range(4)], item["id"])
        stream.start()
        try:
            wait_until(lambda: stream.done >= 20, timeout=60, what="orders to flow")
            order_pid, product_pid = fleet.pid("order-1"), fleet.pid("product-1")
            fleet.kill("order-1")
            fleet.kill("product-1")
            fleet.wait_restarted("order-1", order_pid)
            fleet.wait_restarted("product-1", product_pid)
            mark = stream.done
            wait_until(lambda: stream.done >= mark + 20, timeout=60, what="orders to flow after the kills")
        finally:
            stream.stop()
        assert stream.created, stream.statuses
        for order_id in stream.created:
            order = api.get(f"{ORDERS}/{order_id}", headers=admin.headers)
            assert order.status_code == 200 and order.json()["status"] == "confirmed", order.text
        assert_invariant(api, admin, item)


class TestIdempotencyThroughTheFleet:
    def test_key_replayed_sequentially_and_concurrently_takes_stock_once(self, api, admin):
        item = create_product(api, admin.headers, stock=10)
        user = signed_up(api)
        headers = {**user.headers, "Idempotency-Key": uuid.uuid4().hex}
        first = api.post(ORDERS, json=order_body(item["id"], 2), headers=headers)
        again = api.post(ORDERS, json=order_body(item["id"], 2), headers=headers)
        burst_of_replays = burst(lambda _: api.post(ORDERS, json=order_body(item["id"], 2), headers=headers), range(10))
        assert first.status_code == 201 and again.status_code == 200
        assert {r.status_code for r in burst_of_replays} == {200}
        assert {r.json()["id"] for r in [again, *burst_of_replays]} == {first.json()["id"]}
        assert get_product(api, item["id"])["stock"] == 8

    def test_a_concurrent_first_use_of_a_key_creates_one_order(self, api, admin):
        item = create_product(api, admin.headers, stock=10)
        user = signed_up(api)
        headers = {**user.headers, "Idempotency-Key": uuid.uuid4().hex}
        responses = burst(lambda _: api.post(ORDERS, json=order_body(item["id"]), headers=headers), range(10))
        assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
        assert get_product(api, item["id"])["stock"] == 9


class TestOtherUsersOrders:
    def test_are_not_found_on_get_and_cancel(self, api, admin):
        item = create_product(api, admin.headers, stock=5)
        owner, stranger = signed_up(api), signed_up(api)
        order = api.post(ORDERS, json=order_body(item["id"]), headers=owner.headers).json()
        assert_error(api.get(f"{ORDERS}/{order['id']}", headers=stranger.headers), 404, "not_found")
        assert_error(api.post(f"{ORDERS}/{order['id']}/cancel", headers=stranger.headers), 404, "not_found")
        assert api.get(f"{ORDERS}/{order['id']}", headers=owner.headers).json()["status"] == "confirmed"
