"""The order service over real HTTP against a live product service, each on its own throwaway MariaDB
database migrated by Alembic, both verifying tokens from a test key."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import order_service
import product_service
from order_service.config import Settings as OrderSettings
from order_service.main import create_app as create_order_app
from product_service.config import Settings as ProductSettings
from product_service.main import create_app as create_product_app
from service_kit.db.migrate import upgrade_to_head
from tests.support.direct import DirectDatabase
from tests.support.mariadb import db_env, throwaway_database
from tests.support.servers import free_port, serving
from tests.support.tokens import TokenMinter

SERVICE_TOKEN = "order-tests-service-token"


@pytest.fixture(scope="package")
def minter() -> TokenMinter:
    return TokenMinter()


def _common(minter: TokenMinter, var_dir: Path) -> dict[str, Any]:
    return {
        "APP_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": var_dir,
        "JWT_PUBLIC_KEY": minter.public_pem,
        "SERVICE_TOKEN": SERVICE_TOKEN,
        **db_env(),
    }


@pytest.fixture(scope="package")
def product_url(minter, tmp_path_factory) -> Iterator[str]:
    with throwaway_database("test_order_products") as name:
        settings = ProductSettings(**_common(minter, tmp_path_factory.mktemp("p")), PRODUCTS_DB_NAME=name)
        upgrade_to_head(settings, Path(product_service.__file__).parent / "migrations")
        with serving(create_product_app(settings)) as url:
            yield url


@pytest.fixture(scope="package")
def order_settings(minter, product_url, tmp_path_factory) -> Iterator[OrderSettings]:
    with throwaway_database("test_orders") as name:
        settings = OrderSettings(
            **_common(minter, tmp_path_factory.mktemp("o")),
            ORDERS_DB_NAME=name,
            PRODUCT_SERVICE_URL=product_url,
            # The test drives reconciliation itself.
            RECONCILE_INTERVAL_SECONDS=3600,
        )
        upgrade_to_head(settings, Path(order_service.__file__).parent / "migrations")
        yield settings


@contextmanager
def order_server(settings: OrderSettings) -> Iterator[httpx.Client]:
    with serving(create_order_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def orders(order_settings) -> Iterator[httpx.Client]:
    """The order service, served for real."""
    with order_server(order_settings) as client:
        yield client


@pytest.fixture(scope="package")
def products(product_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=product_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def order_database(order_settings) -> Iterator[DirectDatabase]:
    database = DirectDatabase(order_settings)
    yield database
    database.dispose()


@pytest.fixture
def unreachable_product_url() -> str:
    """An address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
