"""/metrics on every app: RED per route template (never a raw path), in-flight, pools and dependency calls,
in the Prometheus text format, with names and labels as Prometheus' conventions want them."""

import re
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service_kit.app import create_service_app
from service_kit.auth import StaticKeys
from service_kit.metrics import dependency_call
from service_kit.settings import ServiceSettings

_NAME = re.compile(r"[a-z][a-z0-9_]*")
# The base units Prometheus asks for, where a metric measures one.
_UNIT_WORDS = {"ms", "milliseconds", "minutes", "hours", "bytes_kb", "kilobytes", "percent"}


class _Settings(ServiceSettings):
    def database_name(self) -> str:
        return "kit_metrics"


def _app(tmp_path) -> FastAPI:
    app = create_service_app(
        name="kit_metrics",
        settings=_Settings(VAR_DIR=tmp_path),
        api_prefix="/api/v0/kit",
        key_source=StaticKeys(Ed25519PrivateKey.generate().public_key()),
    )

    @app.get("/api/v0/kit/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    return app


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    with TestClient(_app(tmp_path), raise_server_exceptions=False) as test_client:
        yield test_client


def samples(client: TestClient) -> "Samples":
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_a_request_is_counted_under_its_route_template_never_its_path(client: TestClient) -> None:
    before = samples(client)
    for thing_id in (1, 2, 3):
        assert client.get(f"/api/v0/kit/things/{thing_id}").status_code == 200
    assert client.get("/api/v0/kit/things/not-a-number").status_code == 422
    after = samples(client)

    route = "/api/v0/kit/things/{thing_id}"
    assert delta(before, after, "http_requests_total", route=route, method="GET", status="2xx") == 3
    assert delta(before, after, "http_requests_total", route=route, method="GET", status="4xx") == 1
    assert delta(before, after, "http_request_duration_seconds_count", route=route, method="GET") == 4
    # No label value anywhere is a raw path with an id in it.
    assert not any(re.search(r"/things/\d", dict(labels).get("route", "")) for _, labels in after)


def test_a_path_no_route_matched_is_one_label_whatever_the_path(client: TestClient) -> None:
    before = samples(client)
    for path in ("/nowhere", "/api/v0/kit/nothing/7", "/wp-admin.php"):
        assert client.get(path).status_code == 404
    after = samples(client)
    assert delta(before, after, "http_requests_total", route="unmatched", method="GET", status="4xx") == 3
    assert all(dict(labels).get("route") != path for path in ("/nowhere", "/wp-admin.php") for _, labels in after)


def test_in_flight_counts_the_scrape_itself_and_pools_are_reported(client: TestClient) -> None:
    found = samples(client)
    assert value(found, "http_requests_in_flight") >= 1
    for pool in ("write", "read", "probe"):
        assert ("db_pool_size_connections", frozenset({("pool", pool)})) in found, pool
        assert ("db_pool_checked_out_connections", frozenset({("pool", pool)})) in found, pool


def test_a_dependency_call_is_counted_by_outcome() -> None:
    def outcome(handler) -> None:
        with httpx.Client(transport=httpx.MockTransport(handler)) as client:
            try:
                with dependency_call("kit_dependency") as call:
                    call.answered(client.get("http://dependency/").status_code)
            except httpx.HTTPError:
                pass

    def refused(request):
        raise httpx.ConnectError("refused")

    def timed_out(request):
        raise httpx.ReadTimeout("slow")

    for handler in (lambda request: httpx.Response(200), lambda request: httpx.Response(503), refused, timed_out):
        outcome(handler)
    for label in ("ok", "5xx", "refused", "timeout"):
        assert (
            REGISTRY.get_sample_value("dependency_requests_total", {"dependency": "kit_dependency", "outcome": label})
            == 1
        ), label
    assert REGISTRY.get_sample_value("dependency_request_duration_seconds_count", {"dependency": "kit_dependency"}) == 4


def test_every_name_and_label_follows_prometheus_conventions(apps: list[FastAPI]) -> None:
    """The three services' own metrics too: snake_case names with the service's prefix or a shared one, a
    counter ending in _total, time in seconds, label names snake_case and not reserved."""
    with TestClient(apps[0]) as client:
        text = client.get("/metrics").text
    families = list(text_string_to_metric_families(text))
    ours = [family for family in families if not family.name.startswith(("python_", "process_"))]
    names = {family.name for family in ours}
    for expected in ("auth_logins", "product_stock_reservations", "order_placements", "http_requests"):
        assert expected in names, expected
    for family in ours:
        assert _NAME.fullmatch(family.name), family.name
        assert family.name.split("_")[0] in {"http", "db", "dependency", "auth", "product", "order"}, family.name
        assert not set(family.name.split("_")) & _UNIT_WORDS, family.name
        assert family.documentation, family.name
        if "duration" in family.name or family.name.endswith("_seconds"):
            assert family.name.endswith("_seconds"), family.name
        for sample in family.samples:
            if family.type == "counter":
                assert sample.name.endswith("_total"), sample.name
            for label in sample.labels:
                assert _NAME.fullmatch(label) and not label.startswith("__"), label
