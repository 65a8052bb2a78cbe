"""The contract's smoke tests through the compose gateway: what a user does first, end to end, on the images."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from fleet.waiting import wait_until
from tests.compose.project import Compose
from tests.product_service.support import create_product, if_match
from tests.support.clock import just_after_a_second_began
from tests.support.users import AUTH, Account, bearer, signed_up

PRODUCTS, ORDERS = "/api/v0/products", "/api/v0/orders"


def assert_envelope(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["x-request-id"]


def place(gateway: httpx.Client, user: Account, product_id: int, quantity: int) -> httpx.Response:
    return gateway.post(
        ORDERS,
        json={"items": [{"product_id": product_id, "quantity": quantity}]},
        headers={**user.headers, "Idempotency-Key": uuid.uuid4().hex},
    )


def current(gateway: httpx.Client, admin: Account, product_id: int) -> dict[str, Any]:
    """The product as the database has it now: a read with Authorization never comes from the gateway's cache."""
    response = gateway.get(f"{PRODUCTS}/{product_id}", headers=admin.headers)
    assert response.status_code == 200, response.text
    product: dict[str, Any] = response.json()
    return product


def test_register_login_refresh_and_me(gateway: httpx.Client) -> None:
    user = signed_up(gateway)
    me = gateway.get(f"{AUTH}/me", headers=user.headers)
    assert me.status_code == 200 and me.json()["email"] == user.email
    assert "password" not in me.text

    refreshed = gateway.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert gateway.get(f"{AUTH}/me", headers=bearer(refreshed.json()["access_token"])).status_code == 200
    # The old refresh token is spent.
    assert_envelope(
        gateway.post(f"{AUTH}/refresh", json={"refresh_token": user.refresh_token}), 401, "invalid_refresh_token"
    )


def test_product_crud_with_if_match(gateway: httpx.Client, admin: Account) -> None:
    product = create_product(gateway, admin.headers, stock=5)
    assert product["version"] == 1
    path = f"{PRODUCTS}/{product['id']}"
    assert gateway.get(path).headers["etag"] == '"1"'

    updated = gateway.patch(path, json={"stock": 7}, headers={**admin.headers, **if_match(1)})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["stock"], updated.json()["version"]) == (7, 2)
    stale = gateway.patch(path, json={"stock": 9}, headers={**admin.headers, **if_match(1)})
    assert_envelope(stale, 412, "precondition_failed")
    assert current(gateway, admin, product["id"])["stock"] == 7

    assert gateway.delete(path, headers=admin.headers).status_code == 204
    assert_envelope(gateway.get(path, headers=admin.headers), 404, "not_found")


def test_anonymous_catalogue_reads_come_from_the_gateways_cache(
    compose: Compose, gateway: httpx.Client, admin: Account
) -> None:
    product = create_product(gateway, admin.headers, stock=5)
    path = f"{PRODUCTS}/{product['id']}"
    since = datetime.now(UTC).isoformat()
    just_after_a_second_began()
    assert gateway.get(path).json() == gateway.get(path).json() == product

    def verdicts() -> list[str]:
        return [record["cache"] for record in compose.gateway_records(since=since) if record.get("uri") == path]

    wait_until(lambda: len(verdicts()) >= 2, timeout=10, what="the gateway's log lines of both reads")
    # The second came from the cache, which the read-only container keeps on its tmpfs.
    assert verdicts() == ["MISS", "HIT"]


def test_an_order_takes_stock_and_its_cancel_gives_it_back(gateway: httpx.Client, admin: Account) -> None:
    product = create_product(gateway, admin.headers, stock=10)
    user = signed_up(gateway)
    placed = place(gateway, user, product["id"], 3)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "confirmed"
    assert current(gateway, admin, product["id"])["stock"] == 7

    cancelled = gateway.post(f"{ORDERS}/{order['id']}/cancel", headers=user.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert current(gateway, admin, product["id"])["stock"] == 10
    listed = gateway.get(ORDERS, headers=user.headers).json()["items"]
    assert [(item["id"], item["status"]) for item in listed] == [(order["id"], "cancelled")]


def test_another_users_order_is_not_found(gateway: httpx.Client, admin: Account) -> None:
    product = create_product(gateway, admin.headers, stock=10)
    owner, stranger = signed_up(gateway), signed_up(gateway)
    order = place(gateway, owner, product["id"], 1).json()
    assert_envelope(gateway.get(f"{ORDERS}/{order['id']}", headers=stranger.headers), 404, "not_found")
    assert gateway.get(f"{ORDERS}/{order['id']}", headers=owner.headers).status_code == 200


def test_the_gateways_own_errors_are_the_envelope(gateway: httpx.Client) -> None:
    assert_envelope(gateway.get("/api/v0/nowhere"), 404, "not_found")
    assert_envelope(gateway.get("/metrics"), 404, "not_found")
    too_big = gateway.post(
        f"{AUTH}/login", content=b"x" * (2 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert_envelope(too_big, 413, "payload_too_large")
