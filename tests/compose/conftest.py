"""Fixtures for the checks `python -m tests.compose` runs against the compose project it brought up
(tests/compose/check_*.py; `make test`'s own pytest run never collects them, as they need that project).

- `compose` (session): the project (tests.compose.project.Compose), with the images the driver chose.
- `gateway` (function): an httpx.Client on the compose gateway, http://127.0.0.1:8080.
- `admin` (session): the admin .env.dev seeds, logged in.
"""

from collections.abc import Iterator

import httpx
import pytest

from tests.compose.project import GATEWAY_URL, Compose, env_file_values
from tests.support.users import Account, login


@pytest.fixture(scope="session")
def compose() -> Compose:
    return Compose.from_environment()


@pytest.fixture
def gateway() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="session")
def admin() -> Account:
    values = env_file_values()
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0) as client:
        return login(client, Account(id=0, email=values["ADMIN_EMAIL"], password=values["ADMIN_PASSWORD"]))
