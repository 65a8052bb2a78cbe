"""Request context: the request id on the response and every log line, an access line, the request's
metrics (service_kit.metrics), and the last-resort 500 envelope for anything unexpected (logged with its
trace, never sent to the client)."""

import json
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit import metrics, tracing
from service_kit.errors import error_body

# Only ids that cannot forge log lines or headers are kept; anything else gets a fresh one.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

log = structlog.get_logger("service_kit.access")


def _incoming_ids(scope: Scope) -> tuple[str | None, str | None]:
    """The request id (if acceptable) and the W3C traceparent (if valid) the request came with."""
    request_id = traceparent = None
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            request_id = candidate if _ACCEPTABLE_ID.fullmatch(candidate) else None
        elif name == b"traceparent":
            candidate = value.decode("latin-1")
            traceparent = candidate if tracing.trace_id_of(candidate) else None
    return request_id, traceparent


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming_id, traceparent = _incoming_ids(scope)
        request_id = incoming_id or uuid.uuid4().hex
        context = {"request_id": request_id}
        if traceparent is not None:
            context["trace_id"] = traceparent[3:35]
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = False
        started_at = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        metrics.IN_FLIGHT.inc()
        incoming = tracing.INCOMING_TRACEPARENT.set(traceparent)
        with structlog.contextvars.bound_contextvars(**context):
            try:
                await self.app(scope, receive, send_with_request_id)
            except Exception:
                log.exception("unhandled_error", method=scope["method"], path=scope["path"])
                if not response_started:
                    await _send_internal_error(send_with_request_id, request_id)
            finally:
                seconds = time.perf_counter() - started_at
                tracing.INCOMING_TRACEPARENT.reset(incoming)
                metrics.IN_FLIGHT.dec()
                metrics.observe_request(scope, status, seconds)
                if scope["path"] not in _QUIET_PATHS or status >= 500:
                    log.info(
                        "request",
                        method=scope["method"],
                        path=scope["path"],
                        status=status,
                        duration_ms=round(seconds * 1000, 2),
                    )


async def _send_internal_error(send: Send, request_id: str) -> None:
    body = json.dumps(
        error_body("internal_error", "The server could not complete the request.", None, request_id)
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
