"""structlog JSON logging; stdlib loggers (uvicorn, alembic) go through the same renderer."""

import logging
import sys
from typing import Any

import structlog

from service_kit.tracing import add_trace_context


def configure_logging(*, service: str, level: str = "INFO", fmt: str = "json", **static_fields: Any) -> None:
    """One JSON object a line on stdout, with the request id bound by the middleware on every line."""

    def add_static_fields(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        for key, value in static_fields.items():
            event.setdefault(key, value)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_static_fields,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx logs every outgoing request at INFO; our own lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Our middleware writes the access line, with the request id; uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
