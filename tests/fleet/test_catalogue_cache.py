"""The gateway's catalogue cache (nginx/nginx.conf.template; product_service/caching.py), on an extra gateway
with the template's default of CATALOGUE_CACHE_SECONDS=1 in front of the fleet's replicas (whose own gateway
has it off). What went to a replica is read from that gateway's access log: `cache` is nginx's verdict, and
only MISS, EXPIRED, REVALIDATED and BYPASS reached a replica."""

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest

from fleet.waiting import wait_until
from tests.support.clock import just_after_a_second_began
from tests.support.fleet import RunningFleet, wait_for_record
from tests.support.gateway import GatewayProcess
from tests.support.users import Account, login

PRODUCTS = "/api/v0/products"
LIFETIME = 1.0
REACHED_A_REPLICA = {"MISS", "EXPIRED", "REVALIDATED", "BYPASS"}
RATE_LIMITS_OFF = {"LOGIN_RATE_LIMIT": "0", "REGISTER_RATE_LIMIT": "0", "API_RATE_LIMIT": "0", "SEARCH_RATE_LIMIT": "0"}


@pytest.fixture(scope="module")
def cached(fleet: RunningFleet) -> Iterator[GatewayProcess]:
    """An extra gateway with the catalogue cache at its default (on, 1 s), rate limits off."""
    with fleet.extra_gateway(RATE_LIMITS_OFF) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def client(cached: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cached.url, timeout=10.0) as api:
        yield api


@pytest.fixture(scope="module")
def admin(fleet: RunningFleet) -> Iterator[dict[str, str]]:
    with httpx.Client(base_url=fleet.gateway_url, timeout=30.0) as api:
        yield login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password)).headers


@pytest.fixture
def product(fleet: RunningFleet, admin: dict[str, str]) -> dict[str, Any]:
    """A fresh product (a key no test has cached yet), created through the fleet's own, uncached gateway."""
    body = {"name": "cached lamp", "description": "warm", "price": "19.99", "stock": 10}
    created = httpx.post(f"{fleet.gateway_url}{PRODUCTS}", json=body, headers=admin, timeout=30.0)
    assert created.status_code == 201, created.text
    product: dict[str, Any] = created.json()
    return product


def renamed(fleet: RunningFleet, admin: dict[str, str], product: dict[str, Any], name: str) -> int:
    """Rename the product (at the version it was created at) through the fleet's uncached gateway; its new
    version."""
    answer = httpx.patch(
        f"{fleet.gateway_url}{PRODUCTS}/{product['id']}",
        json={"name": name},
        headers={**admin, "If-Match": f'"{product["version"]}"'},
        timeout=30.0,
    )
    assert answer.status_code == 200, answer.text
    version: int = answer.json()["version"]
    return version


def has_request_id(request_id: str, record: dict[str, Any]) -> bool:
    return bool(record.get("request_id") == request_id)


def verdicts(gateway: GatewayProcess, uri: str) -> list[str]:
    """nginx's cache verdict for each request of `uri` this gateway logged, in order."""
    return [record["cache"] for record in gateway.log_records() if record.get("uri") == uri]


def logged(gateway: GatewayProcess, uri: str, count: int) -> list[str]:
    """The verdicts once `count` requests of `uri` are in the log (nginx writes a line after answering)."""
    wait_until(lambda: len(verdicts(gateway, uri)) >= count, timeout=10, what=f"{count} log lines for {uri}")
    return verdicts(gateway, uri)


class TestWhatIsCached:
    def test_a_second_anonymous_read_is_served_by_the_gateway(self, cached, client, product):
        uri = f"{PRODUCTS}/{product['id']}"
        just_after_a_second_began()
        first, second = client.get(uri), client.get(uri)
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json() == product
        assert second.headers["ETag"] == f'"{product["version"]}"'
        assert logged(cached, uri, 2) == ["MISS", "HIT"]

    def test_a_hit_carries_its_own_request_id_and_never_the_expiry_stamp(self, cached, client, product):
        uri = f"{PRODUCTS}/{product['id']}"
        just_after_a_second_began()
        client.get(uri)
        hit = client.get(uri, headers={"X-Request-ID": "cache-hit-check-1"})
        assert logged(cached, uri, 2)[-1] == "HIT"
        assert hit.headers["X-Request-ID"] == "cache-hit-check-1"
        assert "X-Accel-Expires" not in hit.headers

    def test_a_page_of_products_is_cached_too(self, cached, client, product):
        uri = f"{PRODUCTS}?limit=3&q=cached%20lamp"
        just_after_a_second_began()
        assert client.get(uri).status_code == client.get(uri).status_code == 200
        assert logged(cached, uri, 2) == ["MISS", "HIT"]

    def test_a_read_with_authorization_always_reaches_a_replica(self, fleet, cached, client, product, admin):
        uri = f"{PRODUCTS}/{product['id']}"
        just_after_a_second_began()
        assert client.get(uri).json()["version"] == product["version"]  # the anonymous copy is now cached
        version = renamed(fleet, admin, product, "renamed under the cache")
        authorized = client.get(uri, headers=admin)
        assert authorized.json()["version"] == version  # not the cached copy
        # A client's own lifetime header is dropped by the gateway: a bearer still bypasses the cache.
        forged = client.get(uri, headers={**admin, "X-Gateway-Cache-Seconds": "3600"})
        assert forged.json()["version"] == version
        assert logged(cached, uri, 3)[-2:] == ["BYPASS", "BYPASS"]

    def test_writes_are_judged_by_the_service_whatever_is_cached(self, fleet, cached, client, product, admin):
        uri = f"{PRODUCTS}/{product['id']}"
        just_after_a_second_began()
        assert client.get(uri).json()["version"] == product["version"]
        renamed(fleet, admin, product, "moved on")
        stale_write = client.patch(uri, json={"stock": 1}, headers={**admin, "If-Match": f'"{product["version"]}"'})
        assert stale_write.status_code == 412, stale_write.text

    def test_the_fleets_own_gateway_with_the_cache_off_passes_every_read_on(self, fleet, product):
        uri = f"{PRODUCTS}/{product['id']}"
        with httpx.Client(base_url=fleet.gateway_url, timeout=10.0) as api:
            request_ids = [f"cache-off-{product['id']}-{n}" for n in range(3)]
            for request_id in request_ids:
                assert api.get(uri, headers={"X-Request-ID": request_id}).status_code == 200
        for request_id in request_ids:
            record = wait_for_record(lambda: fleet.log_records("gateway"), partial(has_request_id, request_id))
            assert record["cache"] == "BYPASS"


class TestConditionalReads:
    def test_if_none_match_is_answered_304_from_the_cache(self, cached, client, product):
        uri = f"{PRODUCTS}/{product['id']}"
        etag = f'"{product["version"]}"'
        just_after_a_second_began()
        client.get(uri)
        not_modified = client.get(uri, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304
        assert not_modified.headers["ETag"] == etag
        assert not_modified.content == b""
        assert logged(cached, uri, 2)[-1] == "HIT"

    def test_an_old_etag_gets_the_whole_product(self, cached, client, product):
        uri = f"{PRODUCTS}/{product['id']}"
        full = client.get(uri, headers={"If-None-Match": '"999999"'})
        assert full.status_code == 200
        assert full.json() == product

    def test_an_expired_copy_is_refreshed_with_its_etag(self, cached, client, product):
        uri = f"{PRODUCTS}/{product['id']}"
        client.get(uri)
        # The product did not change, so the refresh after the copy expired was a 304 from the replica.
        wait_until(
            lambda: client.get(uri) and "REVALIDATED" in verdicts(cached, uri),
            timeout=5,
            interval=0.1,
            what="a refresh of the expired copy",
        )


class TestStalenessBound:
    def test_no_answer_is_older_than_the_lifetime(self, fleet, cached, client, product, admin):
        """Every stale read must have been sent before (write acknowledged + lifetime): an answer that
        predates the write was made before it, and the gateway serves an answer at most LIFETIME after."""
        uri = f"{PRODUCTS}/{product['id']}"
        just_after_a_second_began()
        assert client.get(uri).json()["version"] == product["version"]
        new_version = renamed(fleet, admin, product, "fresh")
        acknowledged = time.monotonic()
        stale_sent: list[float] = []
        fresh = False
        deadline = acknowledged + 5 * LIFETIME
        while not fresh and time.monotonic() < deadline:
            sent = time.monotonic()
            version = client.get(uri).json()["version"]
            if version == new_version:
                fresh = True
            else:
                stale_sent.append(sent - acknowledged)
        assert fresh, "the write never showed through the cache"
        assert stale_sent, "the cache served nothing stale at all: is it on?"
        assert max(stale_sent) < LIFETIME, f"a stale answer was served {max(stale_sent):.3f} s after the write"


class TestReadStorm:
    def test_a_storm_on_one_product_reaches_the_replicas_about_once_a_second(self, cached, product):
        uri = f"{PRODUCTS}/{product['id']}"
        seconds, clients = 3.0, 16

        async def storm() -> Counter[int]:
            statuses: Counter[int] = Counter()
            async with httpx.AsyncClient(base_url=cached.url, timeout=10.0) as api:

                async def one_client(until: float) -> None:
                    while time.monotonic() < until:
                        statuses[(await api.get(uri)).status_code] += 1

                until = time.monotonic() + seconds
                await asyncio.gather(*(one_client(until) for _ in range(clients)))
            return statuses

        began = time.time()
        statuses = asyncio.run(storm())
        ended = time.time()
        served = sum(statuses.values())
        assert statuses == Counter({200: served})
        lines = Counter(logged(cached, uri, served))
        upstream = sum(count for verdict, count in lines.items() if verdict in REACHED_A_REPLICA)
        # One fill, while every other request waits for it; then, each time a wall-clock second begins, one
        # refresh while the others get the expiring copy (UPDATING). One more for a refresh that met the
        # replica's clock already in the next second.
        seconds_begun = int(ended) - int(began)
        assert lines["MISS"] == 1, lines
        assert lines["EXPIRED"] + lines["REVALIDATED"] <= seconds_begun + 1, lines
        assert served > 10 * upstream, lines
