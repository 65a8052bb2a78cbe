"""Database engine and per-request session: MySQL through PyMySQL, or embedded SQLite for `make run`."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from sqlalchemy import (
    URL,
    BigInteger,
    CursorResult,
    DateTime,
    Engine,
    Executable,
    Integer,
    MetaData,
    create_engine,
    event,
)
from sqlalchemy.dialects.mysql import DATETIME as MYSQL_DATETIME
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

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

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _configure_sqlite(engine: Engine) -> None:
    """WAL + busy timeout, and BEGIN IMMEDIATE so two replicas on one file queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below own the transaction
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: URL, *, pool_size: int = 10, max_overflow: int = 5, connect_timeout: int = 3) -> Engine:
    """An engine tuned for the backend in `url`."""
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        # Conditional UPDATEs decide every race; READ COMMITTED avoids gap-lock deadlocks around them.
        isolation_level="READ COMMITTED",
        connect_args={"connect_timeout": connect_timeout, "read_timeout": 30, "write_timeout": 30},
    )


class Database:
    """One service's engine and session factory, and the connection its readiness probe asks on."""

    def __init__(self, engine: Engine, *, probe_engine: Engine | None = None) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        # Probes keep a connection of their own: a request pool that is all checked out means busy, not down.
        self._probe_engine = probe_engine or engine

    def session(self) -> Session:
        return self.sessions()

    def answers(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            self._query_outside_transaction("SELECT 1")
        except Exception:  # any failure means "no"; the drivers' error classes differ
            return False
        return True

    def migration_revision(self) -> str | None:
        """The Alembic revision the database is at; None if it was never migrated."""
        try:
            revision = self._query_outside_transaction("SELECT version_num FROM alembic_version")
        except Exception:  # no alembic_version table yet
            return None
        return str(revision) if revision is not None else None

    def _query_outside_transaction(self, sql: str) -> Any:
        """The first column of the first row, straight on the driver's connection: on SQLite a SQLAlchemy
        transaction would BEGIN IMMEDIATE and queue behind writers, which a probe must never do."""
        connection = self._probe_engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except Exception:
            connection.invalidate()
            raise
        finally:
            connection.close()
        return row[0] if row else None

    def dispose(self) -> None:
        self.engine.dispose()
        self._probe_engine.dispose()


def rows_matched(session: Session, statement: Executable) -> int:
    """Run an UPDATE/DELETE and say how many rows its WHERE matched: the verdict of a conditional write."""
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount


_MYSQL_DEADLOCK = 1213


def is_deadlock(exc: DBAPIError) -> bool:
    """Whether the database chose this transaction as a deadlock victim: it is rolled back and may be retried."""
    args: tuple[Any, ...] = getattr(exc.orig, "args", ())
    return bool(args) and args[0] == _MYSQL_DEADLOCK


def get_database(request: Request) -> Database:
    """The service's database itself, for a flow that owns its transactions (see order_service.flows)."""
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the handler returns, rolled back on any exception."""
    session = get_database(request).session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the commit happens before the response is sent, so a 2xx means the data is durable.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
