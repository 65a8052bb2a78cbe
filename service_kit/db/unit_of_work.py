"""The one way code reaches a service's database: a unit of work, run by `Database.run` (or `Database.read`).

A unit of work is a coroutine function of a session. `run` gives it a fresh session in a transaction,
commits when it returns and rolls back when it raises, so a refused request leaves nothing written. Units
never commit or roll back themselves; a request runs one unit (or, in a flow spanning two services, one per
state change). Because a unit can be run again from the start, `run` repeats it when the database says a
repeat will do: chosen as a deadlock victim, a connection found dead before the commit, or (when the unit
asks) a duplicate key, which the repeat reads instead of inserting.

What a unit asks beyond that default it declares where it is written, with `@transaction(...)`, never at the
call site: a caller cannot forget a policy the unit needs.

A unit that only reads goes to `read`: no transaction, so nothing to commit, on connections that refuse
writes. Each statement sees what was committed when it ran, which is what READ COMMITTED gives a
transaction too."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar, cast

import structlog
from fastapi import Depends, Request
from sqlalchemy import Connection, CursorResult, Executable
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service_kit.db.errors import is_deadlock, is_failed_connect, is_statement_timeout
from service_kit.errors import Overloaded, SearchTimedOut, ServiceUnavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class Transaction:
    """How `Database.run` treats one unit of work.

    `retry_duplicates`: repeat the unit on a duplicate key, for a unit that inserts a row a concurrent
    request may insert first (the repeat then reads that row instead). `commit_on`: refusals whose writes
    must stand although the unit raises them (a reused refresh token revokes its family and answers 401)."""

    retry_duplicates: bool = False
    commit_on: tuple[type[Exception], ...] = ()


_DEFAULT = Transaction()


def transaction(*, retry_duplicates: bool = False, commit_on: tuple[type[Exception], ...] = ()) -> Callable[[F], F]:
    """Declare a unit of work's transaction policy (`Transaction`) on the unit itself."""

    def declare(unit: F) -> F:
        unit.__transaction__ = Transaction(retry_duplicates, commit_on)  # type: ignore[attr-defined]
        return unit

    return declare


def policy_of(work: Callable[..., Any]) -> Transaction:
    """The policy `work` declared, seen through `functools.partial`; the default where it declared none."""
    while isinstance(work, partial):
        work = work.func
    policy = getattr(work, "__transaction__", _DEFAULT)
    return policy if isinstance(policy, Transaction) else _DEFAULT


# A deadlock or a duplicate settles within a few repeats: the winner has committed by then.
ATTEMPTS = 5
# No unit of work waits longer than this on the database (a stalled server, a lock held by a hung client).
UNIT_TIMEOUT_SECONDS = 30.0


class Database:
    """One service's async engine, and the connection its readiness probe asks on."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        read_engine: AsyncEngine | None = None,
        search_engine: AsyncEngine | None = None,
        probe_engine: AsyncEngine | None = None,
        timeout: float = UNIT_TIMEOUT_SECONDS,
    ) -> None:
        self.engine = engine
        self._read_engine = read_engine or engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._search_engine = search_engine or self._read_engine
        self._search_sessions = async_sessionmaker(self._search_engine, expire_on_commit=False)
        # Probes keep a connection of their own: a request pool that is all checked out means busy, not down.
        self._probe_engine = probe_engine or engine
        self._timeout = timeout

    async def run(self, work: Work[T]) -> T:
        """Run `work` in one transaction: committed if it returns, rolled back if it raises, and repeated as
        the policy it declared says (`@transaction`)."""
        policy = policy_of(work)
        return await self._repeating(
            lambda: self._once(work, policy.commit_on), retry_duplicates=policy.retry_duplicates
        )

    async def read(self, work: Work[T]) -> T:
        """Run `work`, which only reads, outside any transaction (a write in it fails)."""
        return await self._repeating(lambda: self._read_once(work), retry_duplicates=False)

    async def search(self, work: Work[T]) -> T:
        """Run `work`, a costly read (a catalogue search), on connections of its own: a small pool whose
        statements the server stops at a time limit. A flood of searches waits for those connections, and
        never for the ones reads and transactions use. Overloaded (503) when none came free in time,
        SearchTimedOut (503) when the statement ran out of time."""
        try:
            async with asyncio.timeout(self._timeout), self._search_sessions() as session:
                return await work(session)
        except TimeoutError:
            raise ServiceUnavailable("The database did not answer in time; try again.") from None
        except SQLAlchemyTimeoutError:
            raise Overloaded("Too many searches at once; try again shortly.", retry_after=1) from None
        except DBAPIError as exc:
            if is_statement_timeout(exc):
                raise SearchTimedOut(retry_after=1) from None
            raise

    async def _repeating(self, attempt: Callable[[], Awaitable[T]], *, retry_duplicates: bool) -> T:
        for number in range(1, ATTEMPTS + 1):
            try:
                async with asyncio.timeout(self._timeout):
                    return await attempt()
            except DBAPIError as exc:
                if number == ATTEMPTS or not _worth_repeating(exc, retry_duplicates, first=number == 1):
                    raise
                log.info("unit_of_work_repeated", reason=type(exc.orig).__name__, attempt=number)
            except TimeoutError:
                raise ServiceUnavailable("The database did not answer in time; try again.") from None
        raise AssertionError("unreachable: the last attempt re-raises")  # pragma: no cover

    async def _read_once(self, work: Work[T]) -> T:
        async with self._read_sessions() as session:
            return await work(session)

    async def _once(self, work: Work[T], commit_on: tuple[type[Exception], ...]) -> T:
        # The pool sends no ROLLBACK when a connection comes back (the engine's reset_on_return is off):
        # every way out of here ends the transaction itself.
        async with self._sessions() as session:
            try:
                result = await work(session)
            except commit_on:
                await session.commit()
                raise
            except Exception:
                await session.rollback()
                raise
            except BaseException:
                await session.invalidate()  # cancelled mid-transaction: this connection is never reused
                raise
            try:
                await session.commit()
            except BaseException as exc:
                await session.invalidate()  # in an unknown state: never reused
                if isinstance(exc, DBAPIError):
                    # The server may have committed: repeating could do the work twice. The client decides.
                    raise ServiceUnavailable("The database did not confirm the commit; try again.") from exc
                raise
            return result

    async def answers(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            await self._first_value("SELECT 1")
        except Exception:  # any failure means "no"; the drivers' error classes differ
            return False
        return True

    async def migration_revision(self) -> str | None:
        """The Alembic revision the database is at; None if it was never migrated."""
        try:
            revision = await self._first_value("SELECT version_num FROM alembic_version")
        except Exception:  # no alembic_version table yet
            return None
        return str(revision) if revision is not None else None

    async def _first_value(self, sql: str) -> Any:
        async with self._probe_engine.connect() as connection:
            try:
                return await connection.run_sync(_first_value_outside_transaction, sql)
            except Exception:
                await connection.invalidate()
                raise

    def engines(self) -> list[AsyncEngine]:
        """Each distinct engine: for transactions, for reads, for searches, for the readiness probe."""
        return list(dict.fromkeys([self.engine, self._read_engine, self._search_engine, self._probe_engine]))

    async def dispose(self) -> None:
        for engine in self.engines():
            await engine.dispose()


def _worth_repeating(exc: DBAPIError, retry_duplicates: bool, *, first: bool) -> bool:
    if exc.connection_invalidated or is_deadlock(exc):
        return True
    if is_failed_connect(exc):
        return first  # once: a database that is really down answers 503 after one more try, not five
    return retry_duplicates and isinstance(exc, IntegrityError)


def _first_value_outside_transaction(connection: Connection, sql: str) -> Any:
    """The first column of the first row, straight on the driver's connection: on SQLite a SQLAlchemy
    transaction would BEGIN IMMEDIATE and queue behind writers, which a probe must never do."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return row[0] if row else None


async def get_database(request: Request) -> Database:
    """The service's database; handlers and flows run their units of work on it. Async, so FastAPI
    resolves it on the event loop, with no hop to a worker thread."""
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def rows_matched(session: AsyncSession, statement: Executable, parameters: dict[str, Any] | None = None) -> int:
    """Run an UPDATE/DELETE and say how many rows its WHERE matched: the verdict of a conditional write."""
    result = cast(CursorResult[Any], await session.execute(statement, parameters))
    return result.rowcount
