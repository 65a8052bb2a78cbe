"""Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT names a collector; named, every request's spans reach
it over OTLP/HTTP. The trace id of a valid W3C traceparent is read for the log lines either way."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service_kit.app import create_service_app
from service_kit.auth import StaticKeys
from service_kit.settings import ServiceSettings
from service_kit.tracing import trace_id_of


class _Settings(ServiceSettings):
    def database_name(self) -> str:
        return "kit_tracing"


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, int]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Collector.received.append((self.path, self.headers["content-type"], len(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _app(tmp_path, **settings: Any) -> FastAPI:
    app = create_service_app(
        name="kit_tracing",
        settings=_Settings(VAR_DIR=tmp_path, **settings),
        api_prefix="/api/v0/kit",
        key_source=StaticKeys(Ed25519PrivateKey.generate().public_key()),
    )

    @app.get("/api/v0/kit/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


def test_off_by_default(tmp_path) -> None:
    app = _app(tmp_path)
    assert not hasattr(app.state, "tracer_provider")


def test_with_an_endpoint_spans_are_exported_over_otlp_http(tmp_path, collector: str) -> None:
    app = _app(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=collector)
    with TestClient(app) as client:
        assert client.get("/api/v0/kit/ping").status_code == 200
    # The app's shutdown (the end of the block) exported the batch: no flush asked for here.
    assert _Collector.received, "nothing reached the collector"
    path, content_type, size = _Collector.received[0]
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf") and size > 0


@pytest.mark.parametrize(
    ("header", "trace_id"),
    [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),  # all-zero trace id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),  # all-zero parent
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None),  # uppercase
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n{}", None),  # a forged log line
        ("", None),
        (None, None),
    ],
)
def test_only_a_valid_traceparent_gives_a_trace_id(header: str | None, trace_id: str | None) -> None:
    assert trace_id_of(header) == trace_id
