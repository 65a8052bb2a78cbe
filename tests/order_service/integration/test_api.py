"""The order section of API.md against a live product service (real HTTP both ways, MariaDB). The classes
that need only `orders`, `products` and `minter` run again through the real fleet (tests/fleet/test_orders.py)."""

import asyncio
import contextlib
import time
import uuid
from functools import partial

import httpx
import pytest
from sqlalchemy import select, text

from order_service import flows
from order_service.clients.product import ProductClient
from order_service.config import Settings
from order_service.models import Order
from tests.product_service.support import assert_error, create_product, get_product
from tests.support.concurrency import burst

ORDERS = "/api/v0/orders"
SERVICE = {"X-Service-Token": "order-tests-service-token"}
ALICE, BOB = 900_000_001, 900_000_002  # far above any id the fleet's auth hands out


@pytest.fixture
def admin_headers(minter):
    return minter.admin_headers(user_id=1)


@pytest.fixture
def alice(minter):
    return minter.user_headers(user_id=ALICE)


@pytest.fixture
def bob(minter):
    return minter.user_headers(user_id=BOB)


@pytest.fixture
def product(products, admin_headers):
    return create_product(products, admin_headers, price="19.99", stock=10)


def order_body(*lines: tuple[int, int]) -> dict:
    return {"items": [{"product_id": p, "quantity": q} for p, q in lines]}


def place(orders, headers, *lines, key: str | None = None):
    extra = {"Idempotency-Key": key} if key else {}
    return orders.post(ORDERS, json=order_body(*lines), headers={**headers, **extra})


class TestPlaceOrder:
    def test_takes_stock_and_confirms_with_the_product_services_prices(self, orders, products, alice, product):
        response = place(orders, alice, (product["id"], 3))
        assert response.status_code == 201, response.text
        order = response.json()
        assert set(order) == {"id", "user_id", "status", "items", "total", "created_at"}
        assert order["status"] == "confirmed" and order["user_id"] == ALICE
        assert order["items"] == [
            {"product_id": product["id"], "name": product["name"], "quantity": 3, "unit_price": "19.99"}
        ]
        assert order["total"] == "59.97"
        assert response.headers["location"] == f"{ORDERS}/{order['id']}"
        assert get_product(products, product["id"])["stock"] == 7

    def test_a_client_cannot_name_its_own_price(self, orders, alice, product):
        body = {"items": [{"product_id": product["id"], "quantity": 1, "unit_price": "0.01"}]}
        assert_error(orders.post(ORDERS, json=body, headers=alice), 422, "validation_error")

    def test_out_of_stock_takes_nothing_and_names_the_product(self, orders, products, alice, product):
        error = assert_error(place(orders, alice, (product["id"], 11)), 409, "out_of_stock")
        assert error["details"]["product_id"] == product["id"]
        assert get_product(products, product["id"])["stock"] == 10

    def test_second_line_out_of_stock_leaves_the_first_untouched(self, orders, products, alice, admin_headers):
        plenty = create_product(products, admin_headers, stock=5)
        scarce = create_product(products, admin_headers, stock=1)
        assert_error(place(orders, alice, (plenty["id"], 2), (scarce["id"], 2)), 409, "out_of_stock")
        assert get_product(products, plenty["id"])["stock"] == 5
        assert get_product(products, scarce["id"])["stock"] == 1

    def test_the_refused_order_ends_failed_not_pending(self, orders, alice, product):
        assert_error(place(orders, alice, (product["id"], 11)), 409)
        newest = orders.get(ORDERS, params={"limit": 1}, headers=alice).json()["items"][0]
        assert newest["status"] == "failed"

    def test_unknown_product_is_422(self, orders, alice):
        error = assert_error(place(orders, alice, (2**62, 1)), 422, "unknown_product")
        assert error["details"]["product_id"] == 2**62

    def test_without_a_token_is_401(self, orders, product):
        assert_error(orders.post(ORDERS, json=order_body((product["id"], 1))), 401)

    @pytest.mark.parametrize(
        "body",
        [{"items": []}, {"items": [{"product_id": 1, "quantity": 0}]}, {"items": "x"}, {}],
        ids=["no-lines", "zero-quantity", "not-a-list", "empty"],
    )
    def test_bad_input_is_422(self, orders, alice, body):
        assert_error(orders.post(ORDERS, json=body, headers=alice), 422, "validation_error")


class TestIdempotencyKey:
    def test_replay_returns_the_first_order_and_takes_stock_once(self, orders, products, alice, product):
        key = uuid.uuid4().hex
        first = place(orders, alice, (product["id"], 2), key=key)
        replay = place(orders, alice, (product["id"], 2), key=key)
        assert first.status_code == 201 and replay.status_code == 200
        assert replay.json() == first.json()
        assert get_product(products, product["id"])["stock"] == 8

    def test_concurrent_replays_create_one_order(self, orders, products, alice, product):
        key = uuid.uuid4().hex
        responses = burst(lambda _: place(orders, alice, (product["id"], 1), key=key), range(10))
        assert sorted(r.status_code for r in responses) == [200] * 9 + [201], [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert get_product(products, product["id"])["stock"] == 9

    def test_same_key_with_another_body_is_422(self, orders, alice, product):
        key = uuid.uuid4().hex
        place(orders, alice, (product["id"], 1), key=key)
        assert_error(place(orders, alice, (product["id"], 2), key=key), 422, "idempotency_key_reused")

    def test_keys_are_scoped_to_the_user(self, orders, products, alice, bob, product):
        key = uuid.uuid4().hex
        first, second = (
            place(orders, alice, (product["id"], 1), key=key),
            place(orders, bob, (product["id"], 1), key=key),
        )
        assert first.status_code == second.status_code == 201
        assert first.json()["id"] != second.json()["id"]
        assert get_product(products, product["id"])["stock"] == 8

    def test_keys_differing_only_in_case_are_two_orders(self, orders, products, alice, product):
        # MySQL's default collation would make these one key; API.md says keys compare byte for byte.
        key = uuid.uuid4().hex[:12]
        lower, upper = (place(orders, alice, (product["id"], 1), key=k) for k in (f"ab-{key}", f"AB-{key}"))
        assert lower.status_code == upper.status_code == 201, (lower.text, upper.text)
        assert lower.json()["id"] != upper.json()["id"]
        assert get_product(products, product["id"])["stock"] == 8

    def test_a_total_beyond_what_an_order_holds_is_a_422_taking_nothing(self, orders, products, alice, admin_headers):
        dear = create_product(products, admin_headers, price="9999999999.99", stock=5)
        response = place(orders, alice, (dear["id"], 2))
        error = assert_error(response, 422, "total_too_large")
        assert error["details"] == {"total": "19999999999.98", "max_total": "9999999999.99"}
        after = get_product(products, dear["id"])
        assert (after["stock"], after["version"]) == (5, dear["version"])

    def test_a_failed_attempt_frees_the_key_for_a_retry(self, orders, products, alice, admin_headers):
        scarce = create_product(products, admin_headers, stock=1)
        key = uuid.uuid4().hex
        assert_error(place(orders, alice, (scarce["id"], 2), key=key), 409, "out_of_stock")
        assert place(orders, alice, (scarce["id"], 1), key=key).status_code == 201


class TestReadOrders:
    def test_list_is_the_callers_newest_first_with_a_cursor(self, orders, minter, product):
        headers = minter.user_headers(user_id=int(uuid.uuid4().int >> 100) + 10_000)
        placed = [place(orders, headers, (product["id"], 1)).json()["id"] for _ in range(3)]
        first = orders.get(ORDERS, params={"limit": 2}, headers=headers).json()
        second = orders.get(ORDERS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers).json()
        assert [o["id"] for o in first["items"] + second["items"]] == placed[::-1]
        assert second["next_cursor"] is None

    def test_get_own_order(self, orders, alice, product):
        order = place(orders, alice, (product["id"], 1)).json()
        assert orders.get(f"{ORDERS}/{order['id']}", headers=alice).json() == order

    def test_another_users_order_is_not_found(self, orders, alice, bob, product):
        order = place(orders, alice, (product["id"], 1)).json()
        assert_error(orders.get(f"{ORDERS}/{order['id']}", headers=bob), 404, "not_found")
        assert_error(orders.post(f"{ORDERS}/{order['id']}/cancel", headers=bob), 404, "not_found")
        unknown = assert_error(orders.get(f"{ORDERS}/999999999", headers=bob), 404)
        assert unknown["message"] == assert_error(orders.get(f"{ORDERS}/{order['id']}", headers=bob), 404)["message"]

    def test_other_users_orders_never_appear_in_a_list(self, orders, alice, bob, product):
        place(orders, alice, (product["id"], 1))
        assert all(o["user_id"] == BOB for o in orders.get(ORDERS, params={"limit": 100}, headers=bob).json()["items"])

    def test_a_user_cannot_list_someone_elses_orders(self, orders, bob):
        assert_error(orders.get(ORDERS, params={"user_id": ALICE}, headers=bob), 403)

    def test_admin_reads_and_filters_anyones_orders(self, orders, alice, admin_headers, product):
        order = place(orders, alice, (product["id"], 1)).json()
        assert orders.get(f"{ORDERS}/{order['id']}", headers=admin_headers).status_code == 200
        listed = orders.get(ORDERS, params={"user_id": ALICE, "limit": 100}, headers=admin_headers).json()["items"]
        assert order["id"] in {o["id"] for o in listed} and {o["user_id"] for o in listed} == {ALICE}

    def test_a_forged_cursor_is_422(self, orders, alice):
        assert_error(orders.get(ORDERS, params={"cursor": "garbage!"}, headers=alice), 422)


class TestCancelOrder:
    def test_gives_the_stock_back_exactly_once(self, orders, products, alice, product):
        order = place(orders, alice, (product["id"], 4)).json()
        assert get_product(products, product["id"])["stock"] == 6
        responses = burst(lambda _: orders.post(f"{ORDERS}/{order['id']}/cancel", headers=alice), range(5))
        assert {r.status_code for r in responses} == {200}
        assert {r.json()["status"] for r in responses} == {"cancelled"}
        assert get_product(products, product["id"])["stock"] == 10
        again = orders.post(f"{ORDERS}/{order['id']}/cancel", headers=alice)
        assert again.json() == responses[0].json()
        assert get_product(products, product["id"])["stock"] == 10

    def test_admin_may_cancel_anyones_order(self, orders, alice, admin_headers, product):
        order = place(orders, alice, (product["id"], 1)).json()
        assert orders.post(f"{ORDERS}/{order['id']}/cancel", headers=admin_headers).json()["status"] == "cancelled"

    def test_a_failed_order_cannot_be_cancelled(self, orders, alice, product):
        assert_error(place(orders, alice, (product["id"], 11)), 409)
        failed = orders.get(ORDERS, params={"limit": 1}, headers=alice).json()["items"][0]
        assert_error(orders.post(f"{ORDERS}/{failed['id']}/cancel", headers=alice), 409, "order_not_cancellable")


class TestBusinessLimits:
    """The defaults: 1,000 units a line, 10,000 an order, 10,000 held at once by one user (pending and
    confirmed orders). A refusal is 422 `order_limit_exceeded` naming the limit, and takes nothing."""

    @pytest.fixture
    def newcomer(self, minter):
        return minter.user_headers(user_id=900_000_000 + uuid.uuid4().int % 90_000_000)

    def test_a_line_past_the_limit_takes_nothing(self, orders, products, newcomer, product):
        assert_error(place(orders, newcomer, (product["id"], 1_000_001)), 422, "validation_error")
        error = assert_error(place(orders, newcomer, (product["id"], 1_001)), 422, "order_limit_exceeded")
        assert error["details"] == {"limit": "units_per_line", "max": 1_000, "product_id": product["id"]}
        assert get_product(products, product["id"])["stock"] == 10
        assert orders.get(ORDERS, headers=newcomer).json()["items"] == []  # not even a failed order

    def test_an_order_past_the_limit_takes_nothing(self, orders, newcomer):
        lines = [(2**61 + n, 1_000) for n in range(11)]
        error = assert_error(place(orders, newcomer, *lines), 422, "order_limit_exceeded")
        assert error["details"] == {"limit": "units_per_order", "max": 10_000, "units": 11_000}
        assert orders.get(ORDERS, headers=newcomer).json()["items"] == []

    def test_a_user_holding_the_limit_orders_again_once_it_cancelled(self, orders, products, newcomer, admin_headers):
        stock = create_product(products, admin_headers, stock=20_000)
        placed = [place(orders, newcomer, (stock["id"], 1_000)) for _ in range(10)]
        assert [response.status_code for response in placed] == [201] * 10
        error = assert_error(place(orders, newcomer, (stock["id"], 1)), 422, "order_limit_exceeded")
        assert error["details"] == {"limit": "open_units_per_user", "max": 10_000, "held": 10_000, "units": 1}
        assert get_product(products, stock["id"])["stock"] == 10_000
        cancelled = orders.post(f"{ORDERS}/{placed[0].json()['id']}/cancel", headers=newcomer)
        assert cancelled.json()["status"] == "cancelled"
        assert place(orders, newcomer, (stock["id"], 1_000)).status_code == 201

    def test_a_failed_order_holds_nothing(self, orders, newcomer, product):
        assert_error(place(orders, newcomer, (product["id"], 11)), 409, "out_of_stock")  # failed: 11 held, then not
        for _ in range(10):
            assert place(orders, newcomer, (2**62, 1_000)).status_code == 422  # unknown product: failed too
        assert place(orders, newcomer, (product["id"], 1)).status_code == 201

    def test_concurrent_orders_of_one_user_cannot_pass_the_limit_together(
        self, orders, products, newcomer, admin_headers
    ):
        stock = create_product(products, admin_headers, stock=100_000)
        responses = burst(lambda _: place(orders, newcomer, (stock["id"], 1_000)), range(30))
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201] * 10 + [422] * 20, statuses
        assert get_product(products, stock["id"])["stock"] == 90_000


class TestProductServiceOutage:
    def test_product_service_unreachable_is_503_fast_and_leaves_nothing_pending(
        self, order_settings, alice, product, unreachable_product_url, order_database
    ):
        from tests.order_service.integration.conftest import order_server

        cut_off = order_settings.model_copy(update={"PRODUCT_SERVICE_URL": unreachable_product_url})
        with order_server(cut_off) as orders_without_products:
            started = time.monotonic()
            response = place(orders_without_products, alice, (product["id"], 1))
            elapsed = time.monotonic() - started
        assert_error(response, 503, "dependency_unavailable")
        assert elapsed < 2.0, f"503 took {elapsed:.2f}s"
        with order_database.engine.connect() as connection:
            pending = connection.execute(text("SELECT count(*) FROM orders WHERE status = 'pending'")).scalar()
        assert pending == 0

    def test_a_placement_the_bulkhead_refused_owes_no_release(self, order_database, product):
        from order_service.exceptions import ProductBusy, ProductUnavailable
        from order_service.schemas import OrderCreate
        from service_kit.auth import Principal, Role

        async def refused_placement(database) -> None:
            entered, release = asyncio.Event(), asyncio.Event()

            async def stuck(request):
                entered.set()
                await release.wait()
                return httpx.Response(503)

            products = ProductClient(
                "http://product",
                service_token="t",
                connect_timeout=0.1,
                read_timeout=10,
                deadline=10,
                max_in_flight=1,
                queue_timeout=0.1,
                transport=httpx.MockTransport(stuck),
            )

            async def hold_the_only_slot() -> None:
                with contextlib.suppress(ProductUnavailable):
                    await products.release(1)

            holder = asyncio.create_task(hold_the_only_slot())
            await asyncio.wait_for(entered.wait(), 5)
            try:
                with pytest.raises(ProductBusy):
                    await flows.place_order(
                        database,
                        products,
                        caller=Principal(id=ALICE, role=Role.USER),
                        order_in=OrderCreate.model_validate(order_body((product["id"], 1))),
                        idempotency_key=None,
                        replay_wait_seconds=0,
                        limits=Settings().order_limits(),
                    )
            finally:
                release.set()
                await asyncio.wait_for(holder, 10)
                await products.close()

        order_database.call(refused_placement)
        with order_database.session() as session:
            latest = session.scalars(
                select(Order).where(Order.user_id == ALICE).order_by(Order.id.desc()).limit(1)
            ).one()
        assert latest.status == "failed"
        assert latest.released_at is not None  # nothing was sent, so nothing is owed


class TestReconciler:
    @staticmethod
    def _reconcile(order_database, url, *, pending_timeout: float) -> None:
        async def one_pass(database) -> None:
            products = ProductClient(
                url, service_token="order-tests-service-token", connect_timeout=0.3, read_timeout=1, deadline=1
            )
            try:
                await flows.reconcile(database, products, pending_timeout=pending_timeout)
            finally:
                await products.close()

        order_database.call(one_pass)

    def test_an_abandoned_placement_is_failed_and_its_stock_released(
        self, product_url, products, order_database, product
    ):
        from order_service import repository, service

        pending = partial(
            service.start_placement,
            user_id=ALICE,
            quantities={product["id"]: 3},
            idempotency_key=None,
            fingerprint="x",
            max_open_units=10_000,
        )
        order = order_database.run(pending)
        body = {"order_id": order.reservation_key, "items": [{"product_id": product["id"], "quantity": 3}]}
        reserved = products.post("/internal/reservations", json=body, headers=SERVICE)
        assert reserved.status_code == 201  # ...and the replica died right after this call
        assert get_product(products, product["id"])["stock"] == 7
        self._reconcile(order_database, product_url, pending_timeout=0)
        assert get_product(products, product["id"])["stock"] == 10
        settled = order_database.run(partial(repository.get, order_id=order.id))
        assert settled is not None and settled.status == "failed" and settled.released_at is not None

    def test_a_release_owed_during_an_outage_is_delivered_later(
        self, order_settings, product_url, products, order_database, alice, product, unreachable_product_url
    ):
        from order_service import repository
        from tests.order_service.integration.conftest import order_server

        with order_server(order_settings) as orders:
            order = place(orders, alice, (product["id"], 2)).json()
        cut_off = order_settings.model_copy(update={"PRODUCT_SERVICE_URL": unreachable_product_url})
        with order_server(cut_off) as orders_without_products:
            cancelled = orders_without_products.post(f"{ORDERS}/{order['id']}/cancel", headers=alice)
        assert cancelled.json()["status"] == "cancelled"
        assert get_product(products, product["id"])["stock"] == 8  # still held: the release is owed
        self._reconcile(order_database, product_url, pending_timeout=60)
        assert get_product(products, product["id"])["stock"] == 10
        settled = order_database.run(partial(repository.get, order_id=order["id"]))
        assert settled is not None and settled.released_at is not None


class TestIdsOutOfRange:
    @pytest.mark.parametrize("order_id", ["0", "9223372036854775808", "100000000000000000000"])
    def test_an_id_no_order_can_have_is_422(self, orders, alice, order_id):
        assert_error(orders.get(f"{ORDERS}/{order_id}", headers=alice), 422, "validation_error")
        assert_error(orders.post(f"{ORDERS}/{order_id}/cancel", headers=alice), 422, "validation_error")


class TestListCursor:
    def test_a_cursor_past_any_bigint_is_422_not_a_crash(self, orders, alice):
        from service_kit.pagination import encode_cursor

        cursor = encode_cursor({"id": 2**64})
        assert_error(orders.get(ORDERS, params={"cursor": cursor}, headers=alice), 422, "validation_error")
