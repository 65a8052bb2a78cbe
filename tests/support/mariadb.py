"""The real MariaDB every database test uses: one throwaway database per run, dropped afterwards."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import pytest

HOST = os.environ.get("TEST_DB_HOST", "127.0.0.1")
PORT = int(os.environ.get("TEST_DB_PORT", "3306"))
USER = os.environ.get("TEST_DB_USER", "root")
PASSWORD = os.environ.get("TEST_DB_PASS", "")
# information_schema.innodb_trx (and innodb_locks, innodb_lock_waits) is a cache that InnoDB refreshes only
# when it was not read for 100 ms: polled more often, it keeps showing the transactions of the first read
# (MySQL bug 48883; seen here as a lock wait that stayed invisible for 20 s). Poll it at this interval.
INNODB_TRX_POLL_SECONDS = 0.25


def connect(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=HOST, port=PORT, user=USER, password=PASSWORD, database=database, autocommit=True, connect_timeout=3
    )


def require_server() -> None:
    """Fail (never skip) when MariaDB is not there: these tests are the point of the suite."""
    try:
        connect().close()
    except pymysql.err.OperationalError as exc:
        pytest.fail(f"MariaDB is required at {HOST}:{PORT} as {USER}: {exc}", pytrace=False)


def db_env() -> dict[str, Any]:
    """The settings a service needs to reach this server."""
    return {"DB_HOST": HOST, "DB_PORT": str(PORT), "DB_USER": USER, "DB_PASS": PASSWORD}


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A fresh, empty database named `<prefix>_<random>`; dropped on exit."""
    require_server()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield name
    finally:
        with connect() as connection, connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
