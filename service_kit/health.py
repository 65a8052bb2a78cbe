"""Liveness and readiness, the same on every service (probes hit these, not the gateway)."""

from fastapi import APIRouter, Request

from service_kit.db import Database
from service_kit.errors import ServiceUnavailable
from service_kit.migrations import SchemaVersions

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive; depends on nothing."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> dict[str, str]:
    """The process can serve: its database answers and is migrated for this code (else 503)."""
    database: Database = request.app.state.database
    if not database.answers():
        raise ServiceUnavailable("The database does not answer.", details={"database": "unreachable"})
    versions: SchemaVersions | None = request.app.state.schema_versions
    if versions is not None:
        revision = database.migration_revision()
        if not versions.can_serve(revision):
            raise ServiceUnavailable(
                "The database is not migrated for this release yet.",
                details={"database": "not_migrated", "revision": revision, "expected": versions.head},
            )
    return {"status": "ready"}
