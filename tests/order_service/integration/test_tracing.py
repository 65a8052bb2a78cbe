"""One placement is one trace: the order service continues the gateway's trace (its trace id is the gateway's
request id), calls the product service over real HTTP with the trace context, and the product service's
reservation is a child of that call; the SQL of each is inside its own request. Both services really
served, both instrumented, spans caught by one in-memory exporter."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import order_service
import product_service
from order_service.config import Settings as OrderSettings
from order_service.main import create_app as create_order_app
from product_service.config import Settings as ProductSettings
from product_service.main import create_app as create_product_app
from service_kit import tracing
from service_kit.db.migrate import upgrade_to_head
from tests.order_service.integration.conftest import _common
from tests.product_service.support import create_product
from tests.support.mariadb import throwaway_database
from tests.support.servers import serving
from tests.support.tokens import TokenMinter


@pytest.fixture(scope="module")
def traced(minter: TokenMinter, tmp_path_factory) -> Iterator[tuple[str, str, InMemorySpanExporter]]:
    """The product and order services, each traced into the same exporter: (product URL, order URL, it)."""
    exporter = InMemorySpanExporter()
    with (
        throwaway_database("test_traced_products") as products_db,
        throwaway_database("test_traced_orders") as orders_db,
    ):
        product_settings = ProductSettings(
            **_common(minter, tmp_path_factory.mktemp("tp")), PRODUCTS_DB_NAME=products_db
        )
        upgrade_to_head(product_settings, Path(product_service.__file__).parent / "migrations")
        product_app = create_product_app(product_settings)
        assert tracing.install(product_app, service="product_service", exporter=exporter)
        with serving(product_app) as product_url:
            order_settings = OrderSettings(
                **_common(minter, tmp_path_factory.mktemp("to")),
                ORDERS_DB_NAME=orders_db,
                PRODUCT_SERVICE_URL=product_url,
                RECONCILE_INTERVAL_SECONDS=3600,
            )
            upgrade_to_head(order_settings, Path(order_service.__file__).parent / "migrations")
            order_app = create_order_app(order_settings)
            assert tracing.install(order_app, service="order_service", exporter=exporter)
            with serving(order_app) as order_url:
                yield product_url, order_url, exporter


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def attribute(span: ReadableSpan, name: str) -> object:
    return (span.attributes or {}).get(name)


def only(spans: list[ReadableSpan], service: str, kind: SpanKind) -> ReadableSpan:
    """The one span of that service and kind that is not a SQL statement's."""
    found = [
        span for span in spans if service_of(span) == service and span.kind == kind and not attribute(span, "db.system")
    ]
    assert len(found) == 1, (service, kind, [(service_of(s), s.name, s.kind) for s in spans])
    return found[0]


def test_a_placement_is_one_trace_from_the_gateway_to_the_reservation(traced, minter: TokenMinter) -> None:
    product_url, order_url, exporter = traced
    with httpx.Client(base_url=product_url, timeout=30) as products:
        item = create_product(products, minter.admin_headers(), stock=5)
    # What the gateway sends: its request id as the trace id, its own span as the parent.
    request_id, gateway_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    exporter.clear()
    placed = httpx.post(
        f"{order_url}/api/v0/orders",
        json={"items": [{"product_id": item["id"], "quantity": 1}]},
        headers={
            **minter.user_headers(),
            "X-Request-ID": request_id,
            "traceparent": f"00-{request_id}-{gateway_span}-01",
        },
        timeout=30,
    )
    assert placed.status_code == 201, placed.text
    spans = [span for span in exporter.get_finished_spans() if span.context is not None]

    # Every span of the placement, in both services, is in the gateway's trace.
    assert spans and {format(span.context.trace_id, "032x") for span in spans} == {request_id}
    placement = only(spans, "order_service", SpanKind.SERVER)
    assert attribute(placement, "http.route") == "/api/v0/orders"
    assert placement.parent is not None and format(placement.parent.span_id, "016x") == gateway_span

    call = only(spans, "order_service", SpanKind.CLIENT)
    by_id = {span.context.span_id: span for span in spans}

    def ancestors(span: ReadableSpan) -> list[int]:
        chain = []
        while span.parent is not None and span.parent.span_id in by_id:
            chain.append(span.parent.span_id)
            span = by_id[span.parent.span_id]
        return chain

    assert placement.context.span_id in ancestors(call)
    reservation = only(spans, "product_service", SpanKind.SERVER)
    assert attribute(reservation, "http.route") == "/internal/reservations"
    assert reservation.parent is not None and reservation.parent.span_id == call.context.span_id

    # The SQL of each service is inside its own request, never loose.
    queries = [span for span in spans if attribute(span, "db.system")]
    assert {service_of(span) for span in queries} == {"order_service", "product_service"}
    for query in queries:
        root = placement if service_of(query) == "order_service" else reservation
        assert root.context.span_id in ancestors(query), query.name


def test_tracing_is_off_unless_asked_for(tmp_path) -> None:
    app = create_order_app(OrderSettings(APP_ENV="test", DB_HOST=None, VAR_DIR=tmp_path))
    assert not hasattr(app.state, "tracer_provider")
    assert not tracing.install(app, service="order_service")
