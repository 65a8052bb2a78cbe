"""Traces with OpenTelemetry: the FastAPI, httpx and SQLAlchemy instrumentations, W3C trace context in and
out, so that one placement is one trace across the order and product services. Exported over OTLP/HTTP
only when OTEL_EXPORTER_OTLP_ENDPOINT is set; off by default, and then nothing is instrumented at all.

Either way the log lines carry the trace id: the gateway starts every trace (its traceparent's trace id is
its own request id), the middleware binds the incoming trace id to the request's log lines, and the order
service hands the trace context on to the product service."""

import re
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI
from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

TRACEPARENT_HEADER = "traceparent"
# version-trace_id-parent_id-flags, lowercase hex; an all-zero id is invalid (W3C Trace Context, 3.2).
_TRACEPARENT = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
# The traceparent the request being served came with (set by the request middleware).
INCOMING_TRACEPARENT: ContextVar[str | None] = ContextVar("incoming_traceparent", default=None)
# Probes and scrapes are not worth a trace each.
_EXCLUDED_URLS = "healthz,readyz,metrics"


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a valid W3C traceparent header, else None."""
    match = _TRACEPARENT.fullmatch(traceparent or "")
    return match.group(1) if match else None


def install(app: FastAPI, *, service: str, exporter: "SpanExporter | None" = None, endpoint: str | None = None) -> bool:
    """Trace the app, its database pools and the HTTP clients registered on it, exporting to `exporter`
    (spans as they end: tests) or else over OTLP to `endpoint` (in batches). Neither: nothing is done, and
    nothing of the SDK or the instrumentations is even imported (they cost a replica memory)."""
    if exporter is None and not endpoint:
        return False
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor: Any = BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{str(endpoint).rstrip('/')}/v1/traces"))
    else:
        processor = SimpleSpanProcessor(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    app.state.tracer_provider = provider
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls=_EXCLUDED_URLS, exclude_spans=["receive", "send"]
    )
    # The SQLAlchemy instrumentor is a process-wide singleton that instruments once (and wraps create_engine
    # for everyone); its EngineTracer traces exactly this app's engines, with this app's provider. It declares
    # SQLAlchemy < 2.1, but its event hooks work on 2.1 (tests/order_service/integration/test_tracing.py).
    sql_tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    usage = NoOpMeterProvider().get_meter("sqlalchemy").create_up_down_counter("db.client.connections.usage")
    for engine in app.state.database.engines():
        EngineTracer(sql_tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]
    for client in getattr(app.state, "http_clients", []):
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)
    return True


def shutdown(app: FastAPI) -> None:
    """Export what is still buffered and stop exporting (at the app's shutdown); nothing if tracing is off."""
    provider = getattr(app.state, "tracer_provider", None)
    if provider is not None:
        provider.shutdown()


def register_http_client(app: FastAPI, client: httpx.AsyncClient) -> None:
    """An outgoing client of the app: traced (and its calls carry the trace context) once tracing is on."""
    if not hasattr(app.state, "http_clients"):
        app.state.http_clients = []
    app.state.http_clients.append(client)
    provider = getattr(app.state, "tracer_provider", None)
    if provider is not None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)


def propagation_headers() -> dict[str, str]:
    """What an outgoing call adds to carry the trace on: nothing when tracing is on (the httpx
    instrumentation writes the span in progress itself), else the traceparent the request came with."""
    incoming = INCOMING_TRACEPARENT.get()
    if incoming is None or trace.get_current_span().get_span_context().is_valid:
        return {}
    return {TRACEPARENT_HEADER: incoming}


def add_trace_context(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the trace and span ids of the span in progress, when there is one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event
