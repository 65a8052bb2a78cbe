"""The reconciler drains: every owed release in one pass, past one that keeps failing, shared between replicas
without either delivering the other's. Against the live product service and MariaDB."""

import secrets
import threading
from collections import Counter
from datetime import timedelta
from functools import partial

import httpx
from sqlalchemy import select, text

from order_service import flows, repository, service
from order_service.clients.product import ProductClient
from order_service.models import Order, OrderStatus
from service_kit.db.types import utcnow
from service_kit.db.unit_of_work import Database
from tests.support.concurrency import run_concurrently
from tests.support.direct import DirectDatabase

OWED = 1000
USER = 900_000_101


class ReleaseCounter:
    """Every release call the reconcilers make, counted; the ones for `failing` are answered 500."""

    def __init__(self, failing: int | None = None) -> None:
        self.failing = failing
        self.calls: Counter[int] = Counter()
        self._lock = threading.Lock()  # two reconcilers, each on its own thread and event loop

    def count(self, request: httpx.Request) -> bool:
        """Count the call; False if it is to fail."""
        reservation_key = int(request.url.path.split("/")[3])  # /internal/reservations/{id}/release
        with self._lock:
            self.calls[reservation_key] += 1
        return reservation_key != self.failing


class CountingTransport(httpx.AsyncHTTPTransport):
    """The real product service, behind a `ReleaseCounter`."""

    def __init__(self, counter: ReleaseCounter) -> None:
        super().__init__()
        self._counter = counter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._counter.count(request):
            return httpx.Response(500, json={"error": {"code": "internal_error", "message": "boom"}})
        return await super().handle_async_request(request)


def reconcile(database: DirectDatabase, url: str, counter: ReleaseCounter, batch_size: int = 100) -> flows.Reconciled:
    """One reconciliation pass, as a replica runs it, through a product client that counts its releases."""

    async def one_pass(service_database: Database) -> flows.Reconciled:
        products = ProductClient(
            url,
            service_token="order-tests-service-token",
            connect_timeout=0.5,
            read_timeout=5,
            deadline=5,
            max_in_flight=8,
            transport=CountingTransport(counter),
        )
        try:
            return await flows.reconcile(service_database, products, pending_timeout=60, batch_size=batch_size)
        finally:
            await products.close()

    return database.call(one_pass)


def owe_releases(database: DirectDatabase, count: int) -> list[Order]:
    """`count` failed orders whose release is still owed, as an outage leaves them."""
    orders = [
        Order(
            user_id=USER,
            reservation_key=secrets.randbits(62) + 1,
            status=OrderStatus.FAILED,
            request_fingerprint="owed",
            failure_code="dependency_unavailable",
        )
        for _ in range(count)
    ]
    with database.session() as session, session.begin():
        session.add_all(orders)
    return orders


def still_owed(database: DirectDatabase, orders: list[Order]) -> list[Order]:
    with database.session() as session:
        statement = select(Order).where(Order.id.in_([order.id for order in orders]), Order.released_at.is_(None))
        return list(session.scalars(statement))


class TestReconcile:
    def test_one_pass_releases_a_thousand_past_one_that_keeps_failing(self, order_database, product_url):
        orders = owe_releases(order_database, OWED)
        bad = orders[0]  # first in line: the old reconciler stopped there and released nothing
        counter = ReleaseCounter(failing=bad.reservation_key)

        done = reconcile(order_database, product_url, counter)

        assert [order.id for order in still_owed(order_database, orders)] == [bad.id]
        assert done.released >= OWED - 1
        assert done.deferred >= 1
        assert all(counter.calls[order.reservation_key] == 1 for order in orders)
        # The failing one is free again for the next pass (or the other replica), not claimed for a lease.
        with order_database.session() as session:
            assert session.get_one(Order, bad.id).release_claimed_until is None

    def test_two_replicas_share_the_work_and_never_release_the_same_order(self, order_database, product_url):
        orders = owe_releases(order_database, 400)
        counter = ReleaseCounter()
        results = run_concurrently(
            [lambda: reconcile(order_database, product_url, counter, batch_size=25) for _ in range(2)]
        )

        assert still_owed(order_database, orders) == []
        assert [counter.calls[order.reservation_key] for order in orders] == [1] * len(orders)
        assert all(result.released > 0 for result in results), results  # both took a share

    def test_a_claim_of_a_replica_that_died_lapses(self, order_database, product_url):
        [order] = owe_releases(order_database, 1)
        now = utcnow()
        claimed = order_database.run(partial(repository.claim_release_owed, now=now, claimed_until=now, limit=OWED))
        assert order.id in [owed.order_id for owed in claimed]  # ...and the claiming replica died here

        reconcile(order_database, product_url, ReleaseCounter())

        assert still_owed(order_database, [order]) == []


class TestAbandonedByTheDatabasesClock:
    """A pending placement's age is judged by the database server's clock, which stamped it, never by the
    clock of whichever replica's reconciler looks: one running ahead must not fail a live placement."""

    @staticmethod
    def place_pending(order_database: DirectDatabase) -> int:
        pending = partial(
            service.start_placement,
            user_id=USER + 1,
            quantities={1: 1},
            idempotency_key=None,
            fingerprint="pending",
            max_open_units=10**9,
        )
        return order_database.run(pending).id

    @staticmethod
    def status_of(order_database: DirectDatabase, order_id: int) -> OrderStatus:
        with order_database.session() as session:
            return session.scalars(select(Order.status).where(Order.id == order_id)).one()

    @staticmethod
    def fail_abandoned(order_database: DirectDatabase) -> int:
        return order_database.call(lambda database: flows._fail_abandoned(database, pending_timeout=15, batch_size=100))

    def test_a_replica_whose_clock_runs_an_hour_ahead_fails_no_live_placement(self, order_database, monkeypatch):
        order_id = self.place_pending(order_database)
        ahead = utcnow() + timedelta(hours=1)
        for module in (flows, repository):
            monkeypatch.setattr(module, "utcnow", lambda: ahead)
        self.fail_abandoned(order_database)
        assert self.status_of(order_database, order_id) is OrderStatus.PENDING

    def test_a_placement_older_than_the_timeout_by_the_databases_clock_is_failed(self, order_database):
        order_id = self.place_pending(order_database)
        with order_database.session() as session, session.begin():
            session.execute(
                text("UPDATE orders SET updated_at = UTC_TIMESTAMP(6) - INTERVAL 16 SECOND WHERE id = :id"),
                {"id": order_id},
            )
        self.fail_abandoned(order_database)
        assert self.status_of(order_database, order_id) is OrderStatus.FAILED
