"""The reconciler drains: every owed release in one pass, past one that keeps failing, shared between replicas
without either delivering the other's. Against the live product service and MariaDB."""

import secrets
import threading
from collections import Counter

import httpx
from sqlalchemy import select

from order_service import flows, repository
from order_service.clients.product import ProductClient
from order_service.models import Order, OrderStatus
from service_kit.db import Database, utcnow
from tests.support.concurrency import run_concurrently

OWED = 1000
USER = 900_000_101


class ReleaseCounter(httpx.HTTPTransport):
    """The real product service, with every release call counted, and the ones for `failing` answered 500."""

    def __init__(self, failing: int | None = None) -> None:
        super().__init__()
        self.failing = failing
        self.calls: Counter[int] = Counter()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reservation_id = int(request.url.path.split("/")[3])  # /internal/reservations/{id}/release
        with self._lock:
            self.calls[reservation_id] += 1
        if reservation_id == self.failing:
            return httpx.Response(500, json={"error": {"code": "internal_error", "message": "boom"}})
        return super().handle_request(request)


def client(url: str, transport: httpx.BaseTransport) -> ProductClient:
    return ProductClient(
        url,
        service_token="order-tests-service-token",
        connect_timeout=0.5,
        read_timeout=5,
        deadline=5,
        max_in_flight=8,
        transport=transport,
    )


def owe_releases(database: Database, count: int) -> list[Order]:
    """`count` failed orders whose release is still owed, as an outage leaves them."""
    orders = [
        Order(
            user_id=USER,
            reservation_id=secrets.randbits(62) + 1,
            status=OrderStatus.FAILED,
            request_fingerprint="owed",
            failure_code="dependency_unavailable",
        )
        for _ in range(count)
    ]
    with database.session() as session, session.begin():
        session.add_all(orders)
    return orders


def still_owed(database: Database, orders: list[Order]) -> list[Order]:
    with database.session() as session:
        statement = select(Order).where(Order.id.in_([order.id for order in orders]), Order.released_at.is_(None))
        return list(session.scalars(statement))


class TestReconcile:
    def test_one_pass_releases_a_thousand_past_one_that_keeps_failing(self, order_database, product_url):
        orders = owe_releases(order_database, OWED)
        bad = orders[0]  # first in line: the old reconciler stopped there and released nothing
        counter = ReleaseCounter(failing=bad.reservation_id)

        done = flows.reconcile(order_database, client(product_url, counter), pending_timeout=60)

        assert [order.id for order in still_owed(order_database, orders)] == [bad.id]
        assert done.released >= OWED - 1
        assert done.deferred >= 1
        assert all(counter.calls[order.reservation_id] == 1 for order in orders)
        # The failing one is free again for the next pass (or the other replica), not claimed for a lease.
        with order_database.session() as session:
            assert repository.get(session, order_id=bad.id).release_claimed_until is None  # type: ignore[union-attr]

    def test_two_replicas_share_the_work_and_never_release_the_same_order(self, order_database, product_url):
        orders = owe_releases(order_database, 400)
        counter = ReleaseCounter()
        results = run_concurrently(
            [
                lambda: flows.reconcile(order_database, client(product_url, counter), pending_timeout=60, batch_size=25)
                for _ in range(2)
            ]
        )

        assert still_owed(order_database, orders) == []
        assert [counter.calls[order.reservation_id] for order in orders] == [1] * len(orders)
        assert all(result.released > 0 for result in results), results  # both took a share

    def test_a_claim_of_a_replica_that_died_lapses(self, order_database, product_url):
        [order] = owe_releases(order_database, 1)
        now = utcnow()
        with order_database.session() as session, session.begin():
            claimed = repository.claim_release_owed(session, now=now, claimed_until=now, limit=OWED)
        assert order.id in [owed.order_id for owed in claimed]  # ...and the claiming replica died here

        flows.reconcile(order_database, client(product_url, ReleaseCounter()), pending_timeout=60)

        assert still_owed(order_database, [order]) == []
