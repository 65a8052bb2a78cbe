"""A replica's metrics, in the Prometheus text format, with the official client library: per route template
and method the requests by status class and their latency (RED), requests in flight, the database pools,
and the calls to each dependency by outcome. Each service defines its own business metrics beside its code
(`<service>/metrics.py`) on the same registry.

Labels are bounded by construction: a route is its template (`/api/v0/products/{product_id}`, never an id),
a request that matched no route is `unmatched`, a status is its class (`2xx`). `/metrics` is served by each
replica for its scraper; the public gateway never routes it."""

import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response
from starlette.types import Scope

# A `*_created` series beside every counter and histogram doubles what is scraped, and Prometheus does not use it.
disable_created_metrics()  # type: ignore[no-untyped-call]

UNMATCHED = "unmatched"
# What `counting` labels each refusal (an error class) with.
Refusals = Mapping[type[BaseException], str]
# From a cached read (a few ms) to the slowest answer a deadline allows (the 30 s unit timeout).
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests served, by route template, method and status class.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being served right now.")

DEPENDENCY_CALLS = Counter(
    "dependency_requests_total",
    "Calls to another service, by dependency and outcome: ok (answered below 500), refused (no connection "
    "or a dropped one), timeout, 5xx.",
    ["dependency", "outcome"],
)
DEPENDENCY_SECONDS = Histogram(
    "dependency_request_duration_seconds",
    "Time a call to another service took, whatever its outcome, by dependency.",
    ["dependency"],
    buckets=LATENCY_BUCKETS,
)


def route_of(scope: Scope) -> str:
    """The template of the route that served the request (FastAPI puts the route in the scope)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


# Each (route, method, status class) seen, with its two series: `labels()` checks and locks on every call,
# which this skips on the hot path. Bounded like the labels themselves.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    key = (route_of(scope), scope["method"], status // 100)
    series = _SERIES.get(key)
    if series is None:
        route, method, status_class = key
        series = REQUESTS.labels(route, method, f"{status_class}xx"), REQUEST_SECONDS.labels(route, method)
        _SERIES[key] = series
    count, duration = series
    count.inc()
    duration.observe(seconds)


@contextmanager
def dependency_call(dependency: str) -> Iterator["CallOutcome"]:
    """Times one call to `dependency` and counts it by the outcome the block sets (or that its error says)."""
    outcome = CallOutcome()
    started = time.perf_counter()
    try:
        yield outcome
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.PoolTimeout):
        outcome.value = "refused"
        raise
    except httpx.TimeoutException:
        outcome.value = "timeout"
        raise
    finally:
        DEPENDENCY_SECONDS.labels(dependency).observe(time.perf_counter() - started)
        DEPENDENCY_CALLS.labels(dependency, outcome.value).inc()


class CallOutcome:
    """What a call to a dependency came to; set from its answer with `answered`."""

    value = "refused"

    def answered(self, status: int) -> None:
        self.value = "5xx" if status >= 500 else "ok"


@contextmanager
def counting(
    counter: Counter, refusals: Refusals, *, ok: str | None = None, other: str | None = None
) -> Iterator[None]:
    """Count the block's outcome on `counter`: the label of the first refusal class its error is an instance
    of, else `other`; `ok` when it returns. A label that is None is not counted. The error goes on up."""
    try:
        yield
    except BaseException as exc:
        label = next((label for kind, label in refusals.items() if isinstance(exc, kind)), other)
        if label is not None:
            counter.labels(label).inc()
        raise
    if ok is not None:
        counter.labels(ok).inc()


class _Pools(Collector):
    """Each live database pool's size, checked-out connections and overflow, read when scraped."""

    def __init__(self) -> None:
        self._engines: weakref.WeakKeyDictionary[AsyncEngine, str] = weakref.WeakKeyDictionary()

    def watch(self, engine: AsyncEngine, pool: str) -> None:
        self._engines[engine] = pool

    def describe(self) -> list[Any]:
        return []  # read at scrape time only: nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            state: GaugeMetricFamily(f"db_pool_{state}_connections", text, labels=["pool"])
            for state, text in (
                ("size", "Connections the pool keeps open."),
                ("checked_out", "Connections in use by a unit of work right now."),
                ("overflow", "Connections open beyond the pool's size right now (negative: fewer than its size)."),
            )
        }
        totals: dict[tuple[str, str], float] = {}
        for engine, pool in list(self._engines.items()):
            queue = engine.pool
            for state, read in (("size", "size"), ("checked_out", "checkedout"), ("overflow", "overflow")):
                reader = getattr(queue, read, None)
                if callable(reader):
                    totals[state, pool] = totals.get((state, pool), 0) + float(reader())
        for (state, pool), value in sorted(totals.items()):
            families[state].add_metric([pool], value)
        yield from families.values()


POOLS = _Pools()
REGISTRY.register(POOLS)


def install(app: FastAPI) -> None:
    """Serve this replica's metrics at /metrics, for its scraper (never routed by the public gateway)."""

    async def metrics_page() -> Response:
        # A few hundred samples, rendered in well under a millisecond: not worth a thread.
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics_page, methods=["GET"], include_in_schema=False)
