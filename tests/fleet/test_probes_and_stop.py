"""A replica whose every transaction is stuck still answers its probes and its reads at once, and one told to
stop finishes what it is serving. The transactions are stuck for real: behind a product row this test locks
in MariaDB."""

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest

from fleet.waiting import wait_until
from tests.product_service.support import create_product, if_match
from tests.support import mariadb
from tests.support.fleet import RunningFleet
from tests.support.users import Account, login

PRODUCTS = "/api/v0/products"
# Far more than the replica's pool for transactions (8 + 2).
STUCK_REQUESTS = 60
ROW_WAIT = {"timeout": 30, "interval": mariadb.INNODB_TRX_POLL_SECONDS}


@pytest.fixture
def admin(fleet: RunningFleet, gateway: httpx.Client) -> Account:
    return login(gateway, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))


@contextmanager
def row_locked(fleet: RunningFleet, product_id: int) -> Iterator[None]:
    """The product's row locked by a transaction of our own until the block ends."""
    connection = mariadb.connect(fleet.database_names["PRODUCTS_DB_NAME"])
    try:
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT id FROM products WHERE id = %s FOR UPDATE", (product_id,))
            yield
    finally:
        connection.rollback()
        connection.close()


def lock_waits(fleet: RunningFleet) -> int:
    """Transactions of the product database waiting for a row lock (poll it every INNODB_TRX_POLL_SECONDS)."""
    with mariadb.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.innodb_trx t "
            "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
            "WHERE t.trx_state = 'LOCK WAIT' AND p.db = %s",
            (fleet.database_names["PRODUCTS_DB_NAME"],),
        )
        (count,) = cursor.fetchone()  # type: ignore[misc]
        return int(count)


def patch_stuck(
    pool: ThreadPoolExecutor, url: str, product: dict, admin: Account, count: int
) -> list[Future[httpx.Response]]:
    """`count` restocks of the locked product sent straight to one replica; each waits on the row."""

    def restock(n: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            return client.patch(
                f"{url}{PRODUCTS}/{product['id']}",
                json={"stock": product["stock"] + n},
                headers={**admin.headers, **if_match(product["version"])},
            )

    return [pool.submit(restock, n) for n in range(count)]


def waiting_on_the_row(fleet: RunningFleet, stuck: list[Future[httpx.Response]], count: int) -> Callable[[], bool]:
    """A condition for wait_until: `count` restocks wait on the row lock. A restock that answers while the row
    is still locked never reached it (refused before its transaction): fail at once, saying what it got."""

    def condition() -> bool:
        answered = [future for future in stuck if future.done()]
        if answered:
            pytest.fail(f"{len(answered)} restocks answered while the row was locked, e.g. {outcome(answered[0])}")
        return lock_waits(fleet) >= count

    return condition


def outcome(future: Future[httpx.Response]) -> str:
    error = future.exception()
    if error is not None:
        return repr(error)
    response = future.result()
    return f"{response.status_code} {response.text[:300]}"


class TestProbesWhileEveryTransactionIsStuck:
    def test_healthz_answers_in_milliseconds_and_readyz_stays_bounded(
        self, fleet: RunningFleet, gateway: httpx.Client, admin: Account
    ):
        product = create_product(gateway, admin.headers)
        other = create_product(gateway, admin.headers)
        replica = fleet.replica_url("product-1")
        with ThreadPoolExecutor(max_workers=STUCK_REQUESTS) as pool:
            with row_locked(fleet, product["id"]):
                stuck = patch_stuck(pool, replica, product, admin, STUCK_REQUESTS)
                # The transaction pool's worth of them hold a connection and wait on the row lock ...
                wait_until(waiting_on_the_row(fleet, stuck, 10), **ROW_WAIT, what="restocks waiting on the row")
                with httpx.Client(timeout=1.0) as client:
                    # ... and reads, on connections of their own, still answer.
                    assert client.get(f"{replica}{PRODUCTS}/{other['id']}").status_code == 200
                    liveness = []
                    for _ in range(20):
                        started = time.perf_counter()
                        response = client.get(f"{replica}/healthz")
                        liveness.append(time.perf_counter() - started)
                        assert response.status_code == 200
                    started = time.perf_counter()
                    ready = client.get(f"{replica}/readyz", timeout=5)
                    readiness = time.perf_counter() - started
            statuses = sorted({future.result(timeout=90).status_code for future in stuck})

        assert max(liveness) < 0.1, f"slowest /healthz {max(liveness) * 1000:.0f} ms"
        # Readiness asks on a connection of its own, so a full request pool is busy, not unready.
        assert ready.status_code == 200, ready.text
        assert readiness < 1.5, f"/readyz took {readiness:.2f} s"
        # One restock won the version; the rest were refused as stale (or timed out waiting for a connection).
        assert statuses[0] == 200 and set(statuses) <= {200, 412, 503}, statuses


class TestGracefulStop:
    def test_a_stopping_replica_finishes_its_requests_and_takes_no_new_ones(
        self, fleet: RunningFleet, gateway: httpx.Client, admin: Account
    ):
        product = create_product(gateway, admin.headers)
        replica = fleet.replica_url("product-2")
        old_pid = fleet.pid("product-2")
        with ThreadPoolExecutor(max_workers=3) as pool:
            with row_locked(fleet, product["id"]):
                stuck = patch_stuck(pool, replica, product, admin, 1)
                wait_until(waiting_on_the_row(fleet, stuck, 1), **ROW_WAIT, what="the restock to wait on the row")
                [in_flight] = stuck
                fleet.kill("product-2", "TERM")

                def refuses_new_connections() -> bool:
                    try:
                        httpx.get(f"{replica}/healthz", timeout=1.0)
                    except httpx.ConnectError:
                        return True
                    return False

                wait_until(refuses_new_connections, timeout=10, what="product-2 to stop listening")
                # Meanwhile the gateway sends everything to the other replica.
                assert gateway.get(f"{PRODUCTS}/{product['id']}").status_code == 200
                assert not in_flight.done()
            finished = in_flight.result(timeout=30)

        assert finished.status_code == 200, finished.text
        assert finished.json()["stock"] == product["stock"]
        fleet.wait_restarted("product-2", old_pid)
