"""Client-side helpers for the product API, for any httpx-like client: the in-process TestClient, real replica
processes, or the real gateway (tests/fleet)."""

import uuid
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import httpx

PRODUCTS = "/api/v0/products"
RESERVATIONS = "/internal/reservations"


def unique_name(prefix: str = "product") -> str:
    """A name no other test uses, so `q=` finds exactly this test's products."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_order_id() -> int:
    """An order id no other test (or earlier run against the same fleet) uses."""
    return uuid.uuid4().int >> 66  # 62 bits: positive and within BIGINT


def product_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": unique_name(), "description": "A fine thing.", "price": "19.99", "stock": 10}
    body.update(overrides)
    return body


def create_product(api: Any, admin_headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """Create a product as an admin and assert it worked."""
    response = api.post(PRODUCTS, json=product_body(**overrides), headers=admin_headers)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


def get_product(api: Any, product_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = api.get(f"{PRODUCTS}/{product_id}", headers=headers)
    assert response.status_code == 200, response.text
    product: dict[str, Any] = response.json()
    return product


def reservation_body(
    reservation_key: int, *lines: tuple[int, int], key_name: str = "reservation_key"
) -> dict[str, Any]:
    """A reservation call; `key_name="order_id"` names the key as order replicas of the previous release do."""
    return {key_name: reservation_key, "items": [{"product_id": p, "quantity": q} for p, q in lines]}


def if_match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def money(value: str) -> Decimal:
    return Decimal(value)


class Replicas:
    """The product service as its clients reach it: public and internal base URLs (one per replica, or the
    gateway and its internal listener). Call `i` goes to replica `i % n`, so a burst is spread over all."""

    def __init__(
        self,
        *,
        public_urls: list[str],
        internal_urls: list[str],
        admin_headers: dict[str, str],
        service_headers: dict[str, str],
    ) -> None:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        timeout = httpx.Timeout(60.0, connect=5.0)
        self._public = [httpx.Client(base_url=url, limits=limits, timeout=timeout) for url in public_urls]
        self._internal = [
            httpx.Client(base_url=url, limits=limits, timeout=timeout, headers=service_headers) for url in internal_urls
        ]
        self.admin_headers = admin_headers

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for client in self._public + self._internal:
            client.close()

    def public(self, i: int = 0) -> httpx.Client:
        return self._public[i % len(self._public)]

    def internal(self, i: int = 0) -> httpx.Client:
        return self._internal[i % len(self._internal)]

    def create_product(self, i: int = 0, **overrides: Any) -> dict[str, Any]:
        return create_product(self.public(i), self.admin_headers, **overrides)

    def get_product(self, product_id: int, i: int = 0) -> dict[str, Any]:
        return get_product(self.public(i), product_id)

    def reserve(self, order_id: int, *lines: tuple[int, int], i: int = 0) -> httpx.Response:
        return self.internal(i).post(RESERVATIONS, json=reservation_body(order_id, *lines))

    def release(self, order_id: int, i: int = 0) -> httpx.Response:
        return self.internal(i).post(f"{RESERVATIONS}/{order_id}/release")

    def reservation(self, order_id: int, i: int = 0) -> httpx.Response:
        return self.internal(i).get(f"{RESERVATIONS}/{order_id}")


def assert_error(response: Any, status: int, code: str | None = None, *, field: str | None = None) -> dict[str, Any]:
    """The response is the fleet's error envelope with this status (and code, and offending field)."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert field in {f["field"] for f in error["details"]["fields"]}, error
    return error
