"""Client-side helpers for the auth API, for any httpx client (in-process TestClient or the real gateway)."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

AUTH = "/api/v0/auth"


@dataclass
class Account:
    id: int
    email: str
    password: str
    access_token: str = ""
    refresh_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def register(api: httpx.Client, *, email: str | None = None, password: str = "password-123", **extra: Any) -> Account:
    """Register a fresh user and assert it worked."""
    email = email or unique_email()
    response = api.post(f"{AUTH}/register", json={"username": "shopper", "email": email, "password": password, **extra})
    assert response.status_code == 201, response.text
    return Account(id=response.json()["id"], email=email, password=password)


def login(api: httpx.Client, account: Account) -> Account:
    """Log the account in, keeping its tokens on it."""
    response = api.post(f"{AUTH}/login", json={"email": account.email, "password": account.password})
    assert response.status_code == 200, response.text
    account.access_token = response.json()["access_token"]
    account.refresh_token = response.json()["refresh_token"]
    return account


def signed_up(api: httpx.Client, **extra: Any) -> Account:
    """A registered, logged-in user."""
    return login(api, register(api, **extra))
