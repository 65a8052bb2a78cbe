"""Liveness and readiness, the same on every service (probes hit these, not the gateway).

Readiness asks the database on a connection of its own (a request pool that is all checked out means busy,
not down), one check at a time, and gives up after `timeout` seconds, well inside any probe's timeout."""

import asyncio

from fastapi import Request
from pydantic import BaseModel

from service_kit.db.schema_versions import SchemaVersions
from service_kit.db.unit_of_work import Database
from service_kit.errors import ServiceUnavailable
from service_kit.routing import ServiceRouter

READY_TIMEOUT_SECONDS = 1.0

router = ServiceRouter(tags=["health"])


class Status(BaseModel):
    status: str


class Readiness:
    """Whether the replica can serve: its database answers and is migrated for this code."""

    def __init__(self, database: Database, versions: SchemaVersions | None, *, timeout: float) -> None:
        self._database = database
        self._versions = versions
        self._timeout = timeout
        # Once migrated for this code, always so: schemas only move forward.
        self._migrated = versions is None
        self._check: asyncio.Task[None] | None = None

    async def check(self) -> None:
        """Return if ready, else raise ServiceUnavailable within `timeout` seconds. Concurrent probes share
        one check in flight, so a stalled database never piles up probe connections."""
        if self._check is None or self._check.done():
            self._check = asyncio.create_task(self._ask_database())
            # A verdict no probe waited for is dropped here, not reported as never retrieved.
            self._check.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            await asyncio.wait_for(asyncio.shield(self._check), self._timeout)
        except TimeoutError:
            raise ServiceUnavailable("The database did not answer in time.", details={"database": "timeout"}) from None

    async def _ask_database(self) -> None:
        if not await self._database.answers():
            raise ServiceUnavailable("The database does not answer.", details={"database": "unreachable"})
        if self._migrated or self._versions is None:
            return
        revision = await self._database.migration_revision()
        if not self._versions.can_serve(revision):
            raise ServiceUnavailable(
                "The database is not migrated for this release yet.",
                details={"database": "not_migrated", "revision": revision, "expected": self._versions.head},
            )
        self._migrated = True

    def close(self) -> None:
        if self._check is not None:
            self._check.cancel()


@router.get("/healthz", response_model=Status)
async def healthz() -> Status:
    """The process is alive; depends on nothing."""
    return Status(status="ok")


@router.get("/readyz", response_model=Status)
async def readyz(request: Request) -> Status:
    """The process can serve: its database answers and is migrated for this code (else 503)."""
    readiness: Readiness = request.app.state.readiness
    await readiness.check()
    return Status(status="ready")
