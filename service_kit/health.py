"""Liveness and readiness, the same on every service (probes hit these, not the gateway)."""

from fastapi import APIRouter, Request

from service_kit.db import Database
from service_kit.errors import ServiceUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive; depends on nothing."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> dict[str, str]:
    """The process can serve: its database answers (else 503)."""
    database: Database = request.app.state.database
    if not database.answers():
        raise ServiceUnavailable("The database does not answer.", details={"database": "unreachable"})
    return {"status": "ready"}
