"""The product app on a throwaway database migrated by Alembic, once on MariaDB and once on the embedded SQLite
default. In-process (`client`) for the contract, and as two real replica processes (`replicas`) for races."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import product_service
from product_service.config import Settings
from product_service.main import create_app
from service_kit.auth import SERVICE_TOKEN_HEADER
from service_kit.db.migrate import upgrade_to_head
from tests.product_service.support import Replicas
from tests.support.concurrency import wait_until
from tests.support.direct import DirectDatabase
from tests.support.mariadb import db_env, throwaway_database
from tests.support.ports import free_ports
from tests.support.tokens import TokenMinter

MIGRATIONS = Path(product_service.__file__).parent / "migrations"
REPO_ROOT = Path(product_service.__file__).resolve().parent.parent
SERVICE_TOKEN = "product-tests-service-token"
BACKENDS = ["mariadb", "sqlite"]
READY_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope="session")
def minter() -> TokenMinter:
    return TokenMinter()


@contextmanager
def migrated(backend: str, var_dir: Path, minter: TokenMinter) -> Iterator[Settings]:
    """Settings for a fresh database of that backend, migrated to head by Alembic."""
    common: dict[str, Any] = {
        "APP_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": var_dir,
        "JWT_PUBLIC_KEY": minter.public_pem,
        "SERVICE_TOKEN": SERVICE_TOKEN,
    }
    with ExitStack() as stack:
        if backend == "mariadb":
            name = stack.enter_context(throwaway_database("test_products"))
            settings = Settings(**common, PRODUCTS_DB_NAME=name, **db_env())
        else:
            settings = Settings(**common, DB_HOST=None)
        upgrade_to_head(settings, MIGRATIONS)
        yield settings


@pytest.fixture(scope="session", params=BACKENDS)
def settings(request, minter, tmp_path_factory) -> Iterator[Settings]:
    with migrated(request.param, tmp_path_factory.mktemp(f"var-{request.param}"), minter) as settings:
        yield settings


@pytest.fixture(scope="session")
def database(settings) -> Iterator[DirectDatabase]:
    """Direct access to the service's database, for what the API cannot show."""
    database = DirectDatabase(settings)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


# The names the contract classes use, so tests/fleet can run them through the gateway.
@pytest.fixture(scope="session")
def api(client) -> TestClient:
    return client


@pytest.fixture(scope="session")
def internal(client) -> TestClient:
    return client


@pytest.fixture(scope="session")
def admin_headers(minter) -> dict[str, str]:
    return minter.admin_headers()


@pytest.fixture(scope="session")
def user_headers(minter) -> dict[str, str]:
    return minter.user_headers()


@pytest.fixture(scope="session")
def service_headers() -> dict[str, str]:
    return {SERVICE_TOKEN_HEADER: SERVICE_TOKEN}


# -- two real replicas -------------------------------------------------------------------------------------


@contextmanager
def replica_processes(settings: Settings, log_dir: Path, count: int = 2) -> Iterator[list[str]]:
    """`count` processes of `python -m product_service` on one database; yields their base URLs once ready."""
    env = {
        **os.environ,
        "APP_ENV": settings.APP_ENV,
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": str(settings.VAR_DIR),
        "JWT_PUBLIC_KEY": settings.JWT_PUBLIC_KEY or "",
        "SERVICE_TOKEN": settings.SERVICE_TOKEN.get_secret_value(),
        "PRODUCTS_DB_NAME": settings.PRODUCTS_DB_NAME,
        "DB_POOL_SIZE": "10",
        "DB_MAX_OVERFLOW": "10",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DB_HOST", None)
    if settings.DB_HOST is not None:
        env.update({key: str(value) for key, value in db_env().items()})
    with ExitStack() as stack:
        urls, processes, logs = [], [], []
        for index, port in enumerate(free_ports(count)):
            log_path = log_dir / f"product-{index + 1}.log"
            log = stack.enter_context(log_path.open("wb"))
            process = subprocess.Popen(
                [sys.executable, "-m", "product_service"],
                cwd=REPO_ROOT,
                env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, process)
            urls.append(f"http://127.0.0.1:{port}")
            processes.append(process)
            logs.append(log_path)
        for url, process, log_path in zip(urls, processes, logs, strict=True):
            _wait_ready(url, process, log_path)
        yield urls


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    with httpx.Client(timeout=1.0) as http:

        def ready() -> bool:
            try:
                return http.get(f"{url}/readyz").status_code == 200
            except httpx.TransportError:
                return False

        if not wait_until(ready, timeout=READY_TIMEOUT_SECONDS, unless=lambda: process.poll() is not None):
            pytest.fail(f"replica {url} did not become ready:\n{log_path.read_text()[-4000:]}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=25)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def replicas(settings, tmp_path_factory, minter, service_headers) -> Iterator[Replicas]:
    log_dir = tmp_path_factory.mktemp("replica-logs")
    with (
        replica_processes(settings, log_dir) as urls,
        Replicas(
            public_urls=urls, internal_urls=urls, admin_headers=minter.admin_headers(), service_headers=service_headers
        ) as replicas,
    ):
        yield replicas
