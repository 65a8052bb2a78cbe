"""Column types and bounds every service's models share: the same values on MySQL and SQLite."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, String
from sqlalchemy.dialects.mysql import DATETIME as MYSQL_DATETIME
from sqlalchemy.dialects.mysql import VARCHAR as MYSQL_VARCHAR
from sqlalchemy.engine.interfaces import Dialect
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
        # products has 200 of these, and the wrapper showed in its profile.
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
