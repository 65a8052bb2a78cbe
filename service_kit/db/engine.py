"""Engines: MySQL (asyncmy for requests, PyMySQL for migrations and tools), or embedded SQLite for
`make run`. Requests reach them only through `service_kit.db.unit_of_work.Database`."""

import ssl
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


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
    the path can terminate, and a TLS context built per connection (costly CPU at every connect)."""
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
