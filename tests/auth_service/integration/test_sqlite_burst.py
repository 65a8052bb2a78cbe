"""`make run`'s embedded SQLite default under a burst: every transaction holds the file's write lock until it
commits, and many more are in flight than the pool has connections. Real server, real sockets."""

from pathlib import Path

import httpx
import pytest

import auth_service
from auth_service.config import Settings
from auth_service.main import create_app
from service_kit.db.migrate import upgrade_to_head
from tests.support.concurrency import burst
from tests.support.servers import serving
from tests.support.users import AUTH, register

IN_FLIGHT = 80  # eight times the pool


@pytest.fixture(scope="module")
def sqlite_auth(tmp_path_factory):
    # Every login may wait for a hashing thread, and none is throttled: this is about the database file's
    # lock, not the hashing queue or the throttle (whose counting transactions add to the burst).
    var_dir = tmp_path_factory.mktemp("sqlite-auth")
    settings = Settings(
        APP_ENV="test", LOG_LEVEL="WARNING", VAR_DIR=var_dir, HASH_QUEUE=IN_FLIGHT, LOGIN_FREE_ATTEMPTS=10 * IN_FLIGHT
    )
    upgrade_to_head(settings, Path(auth_service.__file__).parent / "migrations")
    with serving(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


class TestBurstOnSqlite:
    def test_more_logins_than_workers_all_succeed(self, sqlite_auth):
        account = register(sqlite_auth)
        body = {"email": account.email, "password": account.password}
        responses = burst(lambda _: sqlite_auth.post(f"{AUTH}/login", json=body), range(IN_FLIGHT))
        assert [r.status_code for r in responses] == [200] * IN_FLIGHT
