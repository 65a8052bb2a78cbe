"""What a database error means for the unit of work that met it (MySQL and MariaDB error numbers)."""

from typing import Any

from sqlalchemy.exc import DBAPIError

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
