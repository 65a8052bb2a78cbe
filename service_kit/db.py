"""Engines and column types: MySQL (asyncmy for requests, PyMySQL for migrations and tools), or embedded SQLite
for `make run`. Requests reach the database through `service_kit.database.Database`."""

import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    URL,
    BigInteger,
    CursorResult,
    DateTime,
    Engine,
    Executable,
    Integer,
    MetaData,
    String,
    create_engine,
    event,
)
from sqlalchemy.dialects.mysql import DATETIME as MYSQL_DATETIME
from sqlalchemy.dialects.mysql import VARCHAR as MYSQL_VARCHAR
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine

# Every constraint gets a predictable name, so migrations can refer to it.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# 64-bit ids on MySQL; SQLite only auto-increments a column declared exactly INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# The largest id a BIGINT holds: anything larger names nothing, and is refused before it reaches a query
# (SQLite's driver would overflow on it).
MAX_ID = 2**63 - 1
# The largest value a 32-bit INT column holds (a product's `version`).
MAX_INT = 2**31 - 1
# The largest amount a Numeric(12, 2) column holds: a price, and an order's total.
MAX_AMOUNT = Decimal("9999999999.99")


def exact_string(length: int) -> TypeEngine[str]:
    """A VARCHAR compared byte for byte on every backend. MySQL's default collations compare case- and
    accent-insensitively (`aB3` = `Ab3`, `josé` = `jose`); SQLite's default is binary already."""
    return String(length).with_variant(MYSQL_VARCHAR(length, collation="utf8mb4_bin"), "mysql")


def new_metadata() -> MetaData:
    """A MetaData that names constraints by the shared convention (one per service)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, naive UTC with microseconds in the database."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "mysql":
            return dialect.type_descriptor(MYSQL_DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None]:
        # One plain function per value, not TypeDecorator's wrapped process_result_value: a page of 100
        # products has 200 of these (py-spy: 8% of the page's CPU through the wrapper).
        parse = self.load_dialect_impl(dialect).result_processor(dialect, coltype)
        if parse is None:
            return _as_utc
        return lambda value: _as_utc(parse(value))


def _as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class DatabaseUtcNow(FunctionElement[datetime]):
    """The database server's UTC time, `offset_seconds` from now, as SQL: for times that replicas compare
    with one another's (a pending placement's age), so that no replica's clock decides. Its value has the
    form UTCDateTime stores, so it compares with such columns on every backend."""

    type = UTCDateTime()
    # The offset is part of the statement's cache key: two offsets are two statements, never one cached.
    _traverse_internals = [*FunctionElement._traverse_internals, ("offset_seconds", InternalTraversal.dp_plain_obj)]
    inherit_cache = True

    def __init__(self, offset_seconds: float = 0.0) -> None:
        super().__init__()
        self.offset_seconds = float(offset_seconds)


@compiles(DatabaseUtcNow, "mysql")
def _mysql_utcnow(element: DatabaseUtcNow, _compiler: Any, **_kw: Any) -> str:
    return f"(UTC_TIMESTAMP(6) + INTERVAL {int(element.offset_seconds * 1_000_000)} MICROSECOND)"


@compiles(DatabaseUtcNow, "sqlite")
def _sqlite_utcnow(element: DatabaseUtcNow, _compiler: Any, **_kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '{element.offset_seconds:+.6f} seconds')"


def _configure_sqlite(engine: Engine, *, read_only: bool = False) -> None:
    """WAL + busy timeout, and BEGIN IMMEDIATE so two replicas on one file queue instead of failing; a
    read-only engine's connections refuse writes and never begin a transaction."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below own the transaction
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    if not read_only:

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _refuse_writes_on_mysql(engine: Engine) -> None:
    """Every statement on these connections runs in a read-only transaction of its own: a write fails."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
        cursor.close()


# Conditional UPDATEs decide every race; READ COMMITTED avoids gap-lock deadlocks around them.
_ISOLATION = "READ COMMITTED"
# A database error's text leaves out the statement's parameters: they are password hashes, emails, tokens.
_HIDE_PARAMETERS = True


def pymysql_tls(tls: ssl.SSLContext | None) -> dict[str, Any]:
    """PyMySQL's connect arguments for a TLS decision: verified against `tls`'s CA, or none at all. Left to
    itself PyMySQL tries TLS whenever the server offers it and verifies nothing: encryption that anyone in
    the path can terminate, and a TLS context built per connection (49 ms of CPU here)."""
    return {"ssl": tls} if tls is not None else {"ssl_disabled": True}


def create_db_engine(url: URL, *, tls: ssl.SSLContext | None = None, **options: Any) -> Engine:
    """A synchronous engine, for migrations and tools: requests use `create_async_db_engine`. `tls`: verify
    the server against that context's CA (`ServiceSettings.database_tls`); None: no TLS."""
    if url.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 10}, hide_parameters=_HIDE_PARAMETERS, **options)
        _configure_sqlite(engine)
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_engine(
        url, isolation_level=_ISOLATION, hide_parameters=_HIDE_PARAMETERS, connect_args=pymysql_tls(tls), **options
    )


def create_async_db_engine(
    url: URL,
    *,
    pool_size: int = 8,
    max_overflow: int = 2,
    pool_timeout: float = 30.0,
    connect_timeout: int = 3,
    read_only: bool = False,
    reset_on_return: bool = True,
    statement_seconds: float | None = None,
    tls: ssl.SSLContext | None = None,
) -> AsyncEngine:
    """An engine requests run on, for the backend in `url` (a synchronous URL; its async driver is chosen
    here). No ping before each checkout: a connection found dead fails its unit of work, which
    `Database.run` repeats on a fresh one, and the pool drops every connection older than the dead one.

    `read_only`: autocommit connections that refuse writes, for reads that need no transaction (no
    COMMIT to send). `reset_on_return=False`: the pool sends no ROLLBACK when a connection comes back,
    for callers that always end their transaction themselves (`Database.run` does). `tls`: as for
    `create_db_engine` (asyncmy uses TLS only when given a context). `statement_seconds`: MySQL and MariaDB
    stop any statement on these connections after that long (`is_statement_timeout`); SQLite has no such
    limit. `pool_timeout`: how long a unit waits for a connection before sqlalchemy's TimeoutError."""
    reset = "rollback" if reset_on_return else None
    isolation = "AUTOCOMMIT" if read_only else _ISOLATION
    # In autocommit a ROLLBACK has nothing to undo; SQLAlchemy would still send one as each read ends.
    skip_rollback = {"skip_autocommit_rollback": True} if read_only else {}
    if url.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(url)
        engine = create_async_engine(
            url.set(drivername="sqlite+aiosqlite"),
            connect_args={"timeout": 10},
            hide_parameters=_HIDE_PARAMETERS,
            pool_reset_on_return=reset,
            **({"isolation_level": isolation} if read_only else {}),
            **skip_rollback,
        )
        _configure_sqlite(engine.sync_engine, read_only=read_only)
        return engine
    engine = create_async_engine(
        url.set(drivername="mysql+asyncmy"),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        hide_parameters=_HIDE_PARAMETERS,
        pool_reset_on_return=reset,
        isolation_level=isolation,
        connect_args={"connect_timeout": connect_timeout, **({"ssl": tls} if tls is not None else {})},
        **skip_rollback,
    )
    if read_only:
        _refuse_writes_on_mysql(engine.sync_engine)
    if statement_seconds is not None:
        _limit_statements_on_mysql(engine.sync_engine, statement_seconds)
    return engine


def _limit_statements_on_mysql(engine: Engine, seconds: float) -> None:
    """The server stops every statement on these connections after `seconds`: MariaDB by max_statement_time
    (any statement), MySQL by max_execution_time (SELECTs, in milliseconds)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT VERSION()")
        (version,) = cursor.fetchone()
        if "mariadb" in str(version).lower():
            cursor.execute(f"SET SESSION max_statement_time = {seconds:.3f}")
        else:
            cursor.execute(f"SET SESSION max_execution_time = {round(seconds * 1000)}")
        cursor.close()


def _ensure_sqlite_dir(url: URL) -> None:
    if url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


async def rows_matched(session: AsyncSession, statement: Executable, parameters: dict[str, Any] | None = None) -> int:
    """Run an UPDATE/DELETE and say how many rows its WHERE matched: the verdict of a conditional write."""
    result = cast(CursorResult[Any], await session.execute(statement, parameters))
    return result.rowcount


_MYSQL_DEADLOCK = 1213
_MYSQL_CONNECT_FAILED = frozenset({2002, 2003})  # CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR


def is_failed_connect(exc: DBAPIError) -> bool:
    """Whether a new connection could not be opened (MySQL client errors 2002/2003): nothing was sent on
    it, so the unit may run again. A replica frozen for a while (SIGSTOP, a long GC pause, a VM stall)
    wakes with its connect timeout already spent, even though the server was there all along."""
    args: tuple[Any, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in _MYSQL_CONNECT_FAILED


# MariaDB's ER_STATEMENT_TIMEOUT, MySQL's ER_QUERY_TIMEOUT (and its older "interrupted" code for it).
_MYSQL_STATEMENT_TIMEOUT = frozenset({1969, 3024, 1317})


def is_statement_timeout(exc: DBAPIError) -> bool:
    """Whether the server stopped the statement at its time limit (`statement_seconds` of the engine)."""
    args: tuple[Any, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in _MYSQL_STATEMENT_TIMEOUT


def is_deadlock(exc: DBAPIError) -> bool:
    """Whether the database chose this transaction as a deadlock victim: it is rolled back and may be retried."""
    args: tuple[Any, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] == _MYSQL_DEADLOCK
