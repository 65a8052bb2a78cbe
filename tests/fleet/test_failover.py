"""A replica dies under load: the gateway hides it from clients and the supervisor brings it back."""

import uuid
from pathlib import Path

import httpx
import pytest

from fleet.topology import SERVICES
from fleet.waiting import wait_until
from tests.support.fleet import RunningFleet
from tests.support.streams import Stream
from tests.support.users import Account, login, signed_up


def register_and_login(client: httpx.Client) -> tuple[str, str]:
    email = f"stream-{uuid.uuid4().hex[:12]}@example.com"
    password = "stream-password-1"
    registered = client.post("/api/v0/auth/register", json={"username": "stream", "email": email, "password": password})
    assert registered.status_code == 201, registered.text
    login = client.post("/api/v0/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return email, login.json()["access_token"]


class TestAuthReplicaKilledMidStream:
    def test_no_client_sees_an_error_and_the_replica_comes_back(self, fleet: RunningFleet, gateway: httpx.Client):
        email, token = register_and_login(gateway)
        credentials = {"email": email, "password": "stream-password-1"}
        stream = Stream(
            calls=[
                lambda c: c.get("/api/v0/auth/.well-known/jwks.json"),
                lambda c: c.get("/api/v0/auth/me", headers={"Authorization": f"Bearer {token}"}),
                lambda c: c.post("/api/v0/auth/login", json=credentials),
            ],
            expected={"/api/v0/auth/.well-known/jwks.json": 200, "/api/v0/auth/me": 200, "/api/v0/auth/login": 200},
            url=fleet.gateway_url,
        )
        stream.start()
        try:
            stream.wait_for(40)
            old_pid = fleet.pid("auth-1")
            fleet.kill("auth-1")
            during = stream.done
            new_pid = fleet.wait_restarted("auth-1", old_pid, timeout=30)
            served_while_down = stream.done - during
            stream.wait_for(40)
        finally:
            stream.stop()

        assert stream.failures == [], stream.failures[:10]
        assert new_pid != old_pid
        assert served_while_down > 0, "the stream stalled while the replica was down"
        # The kill really hit traffic: the gateway tried the dead replica and went on to the other one.
        dead = fleet.config.replica("auth-1").address
        retried = [
            record
            for record in fleet.log_records("gateway")
            if record.get("upstream_addr", "").startswith(f"{dead}, ") and record.get("status") in (200, 401)
        ]
        assert retried, "no request was retried on the other replica after the kill"
        assert stream.done > 80


class TestBothReplicasDieInTurn:
    """Two deaths in a row: one replica is killed and comes back, and its partner is killed the moment it is
    ready, while the gateway may still be skipping the first for having failed. A ready replica must serve."""

    @pytest.mark.parametrize("service", [service.name for service in SERVICES])
    def test_no_read_fails_when_the_partner_dies_as_soon_as_one_is_back(
        self, service: str, fleet: RunningFleet, gateway: httpx.Client
    ):
        stream = Stream.of_reads(fleet.gateway_url, reads_of(service, gateway, fleet))
        first, second = f"{service}-1", f"{service}-2"
        stream.start()
        try:
            stream.wait_for(40)
            fleet.wait_restarted(first, fleet.kill(first))
            served_before = stream.done
            old_pid = fleet.kill(second)  # at once: no waiting for the gateway to take the first back
            fleet.wait_restarted(second, old_pid)
            served_while_down = stream.done - served_before
            stream.wait_for(40)
        finally:
            stream.stop()

        assert stream.failures == [], stream.failures[:10]
        assert served_while_down > 0, "the stream stalled while the second replica was down"


def reads_of(service: str, gateway: httpx.Client, fleet: RunningFleet) -> dict[str, dict[str, str]]:
    """GETs that only `service` answers, each with the headers it needs: path -> headers."""
    user = signed_up(gateway)
    if service == "auth":
        return {"/api/v0/auth/.well-known/jwks.json": {}, "/api/v0/auth/me": user.headers}
    admin = login(gateway, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))
    created = gateway.post(
        "/api/v0/products",
        json={"name": "failover lamp", "description": "", "price": "1.00", "stock": 5},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    if service == "product":
        return {"/api/v0/products": {}, f"/api/v0/products/{product_id}": {}}
    order = gateway.post(
        "/api/v0/orders", json={"items": [{"product_id": product_id, "quantity": 1}]}, headers=user.headers
    )
    assert order.status_code == 201, order.text
    return {"/api/v0/orders": user.headers, f"/api/v0/orders/{order.json()['id']}": user.headers}


class TestSupervisor:
    def test_killed_replica_is_restarted_with_a_new_pid(self, fleet: RunningFleet):
        old_pid = fleet.pid("product-2")
        assert fleet.kill("product-2") == old_pid
        new_pid = fleet.wait_restarted("product-2", old_pid)
        assert new_pid not in (0, old_pid)
        assert httpx.get(f"{fleet.replica_url('product-2')}/readyz", timeout=5).status_code == 200

    def test_killed_gateway_is_restarted_without_its_old_workers(self, fleet: RunningFleet, gateway: httpx.Client):
        old_pid = fleet.pid("gateway")
        fleet.kill("gateway")
        new_pid = fleet.wait_restarted("gateway", old_pid)
        assert gateway.get("/api/v0/auth/.well-known/jwks.json").status_code == 200
        # The dead master's workers would keep the port and serve the old config forever: they are gone,
        # and the workers now serving belong to the new master.
        assert nginx_processes_in_group(old_pid) == []
        assert nginx_processes_in_group(new_pid)
        assert "Address already in use" not in fleet.read_log("gateway")


def nginx_processes_in_group(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid and b"nginx" in (stat.parent / "cmdline").read_bytes():
            members.append(int(stat.parent.name))
    return members


class TestDependencyOutage:
    def test_a_dependencys_503_never_takes_a_service_out_of_the_gateway(
        self, fleet: RunningFleet, gateway: httpx.Client
    ):
        _, token = register_and_login(gateway)
        me = {"Authorization": f"Bearer {token}"}
        fleet.stop_program("auth-1")
        fleet.stop_program("auth-2")
        try:
            # Fresh order replicas hold no verification keys and cannot fetch any: every authenticated
            # request is a truthful 503 from both of them.
            for program in ("order-1", "order-2"):
                fleet.wait_restarted(program, fleet.kill(program))
            refused = [gateway.get("/api/v0/orders", headers=me) for _ in range(10)]
            # The order service itself is fine, and the gateway still knows it.
            docs = [gateway.get("/api/v0/orders/openapi.json") for _ in range(5)]
        finally:
            fleet.start_program("auth-1")
            fleet.start_program("auth-2")
        assert {response.status_code for response in refused} == {503}
        assert {response.json()["error"]["code"] for response in refused} == {"dependency_unavailable"}
        assert [response.status_code for response in docs] == [200] * 5
        wait_until(
            lambda: gateway.get("/api/v0/orders", headers=me).status_code == 200, timeout=30, what="orders again"
        )
