"""Liveness and readiness, the same on every service (probes hit these, not the gateway).

Both answer from the event loop, never from the worker-thread pool: handlers can fill that pool (row locks,
a bulkhead wait, argon2, a pool checkout), and a busy replica must not look dead to its probes. Readiness
asks the database on a thread and a connection of its own, one check at a time, and gives up after
`timeout` seconds, well inside any probe's timeout."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Request

from service_kit.db import Database
from service_kit.errors import ServiceUnavailable
from service_kit.revisions import SchemaVersions

READY_TIMEOUT_SECONDS = 1.0

router = APIRouter(tags=["health"])


class Readiness:
    """Whether the replica can serve: its database answers and is migrated for this code."""

    def __init__(self, database: Database, versions: SchemaVersions | None, *, timeout: float) -> None:
        self._database = database
        self._versions = versions
        self._timeout = timeout
        # Once migrated for this code, always so: schemas only move forward.
        self._migrated = versions is None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness")
        self._check: asyncio.Future[None] | None = None

    async def check(self) -> None:
        """Return if ready, else raise ServiceUnavailable within `timeout` seconds. Concurrent probes share
        one check in flight, so a stalled database never piles up probe threads."""
        if self._check is None or self._check.done():
            self._check = asyncio.wrap_future(self._executor.submit(self._ask_database))
            # A verdict no probe waited for is dropped here, not reported as never retrieved.
            self._check.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            await asyncio.wait_for(asyncio.shield(self._check), self._timeout)
        except TimeoutError:
            raise ServiceUnavailable("The database did not answer in time.", details={"database": "timeout"}) from None

    def _ask_database(self) -> None:
        if not self._database.answers():
            raise ServiceUnavailable("The database does not answer.", details={"database": "unreachable"})
        if self._migrated or self._versions is None:
            return
        revision = self._database.migration_revision()
        if not self._versions.can_serve(revision):
            raise ServiceUnavailable(
                "The database is not migrated for this release yet.",
                details={"database": "not_migrated", "revision": revision, "expected": self._versions.head},
            )
        self._migrated = True

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive; depends on nothing."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    """The process can serve: its database answers and is migrated for this code (else 503)."""
    readiness: Readiness = request.app.state.readiness
    await readiness.check()
    return {"status": "ready"}
