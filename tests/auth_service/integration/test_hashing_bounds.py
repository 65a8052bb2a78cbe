"""argon2 under a burst of registrations on a replica whose cgroup allows one CPU: never more hashes at once
than that share, a quick 503 with Retry-After once the queue is full, and nothing written for a refusal.
Real server, real sockets, MariaDB."""

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import auth_service
from auth_service import passwords as module
from auth_service.config import Settings
from auth_service.main import create_app
from service_kit.db.migrate import upgrade_to_head
from tests.support.concurrency import burst
from tests.support.mariadb import connect, db_env, throwaway_database
from tests.support.servers import serving
from tests.support.users import AUTH, unique_email

REGISTRATIONS = 33
QUEUE = 4


class PeakCounter:
    """Wraps the real hash function and remembers how many ran at once."""

    def __init__(self, real):
        self._real, self._lock, self.running, self.peak = real, threading.Lock(), 0, 0

    def __call__(self, password: str) -> str:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return self._real(password)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def one_cpu_auth(tmp_path, monkeypatch) -> Iterator[tuple[httpx.Client, PeakCounter, str]]:
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "cpu.max").write_text("100000 100000\n")  # a quota of one CPU, whatever the node has
    monkeypatch.setattr(module, "CGROUP_ROOT", cgroup)
    counter = PeakCounter(module.password_hasher.hash)
    monkeypatch.setattr(module.password_hasher, "hash", counter)
    with throwaway_database("test_auth_hashing") as name:
        settings = Settings(
            APP_ENV="test", LOG_LEVEL="WARNING", AUTH_DB_NAME=name, VAR_DIR=tmp_path, HASH_QUEUE=QUEUE, **db_env()
        )
        upgrade_to_head(settings, Path(auth_service.__file__).parent / "migrations")
        app = create_app(settings)
        assert app.state.passwords.threads == 1
        with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client, counter, name


def test_a_burst_of_registrations_never_hashes_more_than_the_cpu_quota(one_cpu_auth):
    client, counter, database = one_cpu_auth
    emails = [unique_email() for _ in range(REGISTRATIONS)]
    barrier = threading.Barrier(REGISTRATIONS, timeout=10)

    def register(email: str) -> httpx.Response:
        barrier.wait()
        return client.post(f"{AUTH}/register", json={"username": "u", "email": email, "password": "password-123"})

    responses = burst(register, emails)
    assert counter.peak == 1
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {201, 503}, [r.text for r in responses]
    # All 33 arrive at once: one hashes, QUEUE wait, the rest are refused without waiting.
    assert 1 + QUEUE <= statuses.count(201) < REGISTRATIONS
    for response in responses:
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "1"
            assert response.json()["error"]["code"] == "overloaded"
    created = {email for email, response in zip(emails, responses, strict=True) if response.status_code == 201}
    with connect(database) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT email FROM users")
        assert {row[0] for row in cursor.fetchall()} == created
