"""`make run`'s defaults: the fleet on embedded SQLite keeps users and tokens across a restart, and
`python -m fleet run` stops every program when it is told to."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from fleet.config import REPO_ROOT
from fleet.ports import busy_ports
from fleet.runner import local_config
from fleet.supervisor import socket_path
from fleet.topology import replica_names
from fleet.waiting import wait_until
from tests.support.fleet import base_env, require_nginx, running_fleet
from tests.support.ports import free_ports
from tests.support.supervisor import SupervisorClient


class TestRestartOnSqlite:
    def test_users_and_refresh_tokens_survive_a_restart(self, tmp_path: Path):
        state_dir = tmp_path / "fleet"
        email, password = f"restart-{uuid.uuid4().hex[:10]}@example.com", "restart-password-1"

        with running_fleet(state_dir, database="sqlite") as first:
            assert "DB_HOST" not in first.config.env
            with httpx.Client(base_url=first.gateway_url, timeout=10.0) as client:
                registered = client.post(
                    "/api/v0/auth/register", json={"username": "restart", "email": email, "password": password}
                )
                assert registered.status_code == 201, registered.text
                login = client.post("/api/v0/auth/login", json={"email": email, "password": password})
                assert login.status_code == 200, login.text
                rotated = client.post("/api/v0/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
                assert rotated.status_code == 200, rotated.text
                pair = rotated.json()
        assert (state_dir / "var" / "authDB.sqlite3").exists()

        with (
            running_fleet(state_dir, database="sqlite") as second,
            httpx.Client(base_url=second.gateway_url, timeout=10.0) as client,
        ):
            assert client.post("/api/v0/auth/login", json={"email": email, "password": password}).status_code == 200
            refreshed = client.post("/api/v0/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            assert refreshed.status_code == 200, refreshed.text
            # The dev signing key survived too: an access token from before the restart still verifies.
            me = client.get("/api/v0/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
            assert me.status_code == 200, me.text
            assert me.json()["email"] == email


def free_base_port() -> int:
    """A base port whose next eight ports are all free right now (the gateway's, the internal one, six
    replicas), below the ephemeral range so no outgoing connection takes one meanwhile."""
    for base in free_ports(50):
        if not busy_ports([("127.0.0.1", base + offset) for offset in range(1, 9)]):
            return base
    pytest.fail("no run of eight free ports found")


class TestFleetRun:
    @pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
    def test_signal_stops_every_program(self, tmp_path: Path, stop_signal: signal.Signals):
        require_nginx()
        base = free_base_port()
        env = base_env() | {
            "FLEET_STATE_DIR": str(tmp_path / "state"),
            "VAR_DIR": str(tmp_path / "var"),
            "GATEWAY_PORT": str(base + 7),
            "INTERNAL_LISTEN": f"127.0.0.1:{base + 8}",
            "FLEET_BASE_PORT": str(base),
        }
        gateway_url = f"http://127.0.0.1:{base + 7}"
        with (tmp_path / "run.log").open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "fleet", "run"], cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
            try:

                def announced() -> bool:
                    assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
                    return b"fleet: ready at" in (tmp_path / "run.log").read_bytes()

                # The announcer polls each replica's /readyz and the gateway's /healthz itself.
                wait_until(announced, timeout=120, what="make run's ready announcement")
                # Announced means serving: the very first requests through the gateway are answered.
                for path in ["/api/v0/auth/.well-known/jwks.json", "/api/v0/products", "/api/v0/orders/openapi.json"]:
                    assert httpx.get(f"{gateway_url}{path}", timeout=10).status_code == 200, path
                supervisor = SupervisorClient(socket_path(local_config(env)))
                pids = [supervisor.pid(name) for name in [*replica_names(), "gateway"]]
                assert all(pids)

                process.send_signal(stop_signal)
                assert process.wait(timeout=60) == 0
            finally:
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
        assert not [pid for pid in pids if alive(pid)]
        assert not busy_ports([("127.0.0.1", base + offset) for offset in range(1, 9)])
        log = (tmp_path / "run.log").read_text()
        assert "admin@example.com" in log  # the dev admin default is printed at start


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
