"""A flood of catalogue searches, each a scan of a large catalogue, cannot starve orders: searches have a
small pool of their own in each product replica and a statement time limit (Database.search),
and the gateway limits them per address (SEARCH_RATE_LIMIT, off in this fleet, on in an extra gateway)."""

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from fleet.waiting import wait_until
from tests.product_service.support import create_product
from tests.support.fleet import RunningFleet
from tests.support.mariadb import connect
from tests.support.users import Account, login, signed_up

CATALOGUE = 40_000  # a scan of it takes MariaDB tens of milliseconds
SEARCHERS = 48


@pytest.fixture(scope="module")
def api(fleet: RunningFleet) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    with httpx.Client(base_url=fleet.gateway_url, timeout=30.0, limits=limits) as client:
        yield client


@pytest.fixture(scope="module")
def large_catalogue(fleet: RunningFleet) -> Iterator[None]:
    """CATALOGUE products written straight into productsDB, deleted afterwards (later tests page the catalogue)."""
    marker = f"seeded-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [(f"{marker} product {n}", "a product", "1.00", 1, 1, now, now) for n in range(CATALOGUE)]
    connection = connect(fleet.database_names["PRODUCTS_DB_NAME"])
    try:
        with connection.cursor() as cursor:
            for start in range(0, CATALOGUE, 5_000):
                cursor.executemany(
                    "INSERT INTO products (name, description, price, stock, version, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    rows[start : start + 5_000],
                )
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM products WHERE name LIKE %s", (f"{marker} %",))
        connection.close()


def test_orders_keep_answering_within_two_seconds_during_a_search_flood(
    api: httpx.Client, fleet: RunningFleet, large_catalogue: None
) -> None:
    admin = login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))
    item = create_product(api, admin.headers, stock=1_000)
    shopper = signed_up(api)
    stop = threading.Event()
    searched: list[int] = []

    def search() -> None:
        with httpx.Client(base_url=fleet.gateway_url, timeout=30.0) as client:
            while not stop.is_set():
                # Matches nothing: every search scans the whole catalogue.
                response = client.get("/api/v0/products", params={"q": f"absent-{uuid.uuid4().hex[:6]}"})
                searched.append(response.status_code)

    def order(_: int) -> tuple[int, float]:
        started = time.monotonic()
        body = {"items": [{"product_id": item["id"], "quantity": 1}]}
        response = api.post("/api/v0/orders", json=body, headers=shopper.headers)
        return response.status_code, time.monotonic() - started

    def read(_: int) -> int:
        # Authenticated, so the replica answers (never the gateway's cache): a read, not a search.
        return api.get(f"/api/v0/products/{item['id']}", headers=shopper.headers).status_code

    with ThreadPoolExecutor(max_workers=SEARCHERS) as flood:
        for _ in range(SEARCHERS):
            flood.submit(search)
        try:
            wait_until(lambda: len(searched) >= 2 * SEARCHERS, timeout=30, what="the search flood to be on")
            with ThreadPoolExecutor(max_workers=4) as shoppers:
                placed = list(shoppers.map(order, range(40)))
                reads = list(shoppers.map(read, range(40)))
        finally:
            stop.set()

    assert [status for status, _ in placed] == [201] * 40
    slowest = max(seconds for _, seconds in placed)
    assert slowest < 2.0, f"an order took {slowest:.2f} s during the flood"
    assert set(reads) == {200}
    # Searches were slowed or refused (503, Retry-After), never failed otherwise.
    assert set(searched) <= {200, 503} and len(searched) >= 2 * SEARCHERS, sorted(set(searched))


def test_the_gateway_limits_searches_per_address_but_not_plain_reads(fleet: RunningFleet, start_extra_gateway):
    gateway = start_extra_gateway({"SEARCH_RATE_LIMIT": "2", "SEARCH_RATE_BURST": "2", "API_RATE_LIMIT": "0"})
    with httpx.Client(base_url=gateway.url, timeout=10.0) as client:
        searches = [client.get("/api/v0/products", params={"q": "x"}).status_code for _ in range(20)]
        reads = [client.get("/api/v0/products").status_code for _ in range(20)]
        throttled = client.get("/api/v0/products", params={"q": "x"})
    assert 429 in searches and set(searches) <= {200, 429}, searches
    assert set(reads) == {200}
    if throttled.status_code == 429:
        error = throttled.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["details"]["retry_after_seconds"] == int(throttled.headers["retry-after"])
