"""The three service apps, built once on SQLite settings (nothing here touches their databases)."""

from typing import Any

import pytest
from fastapi import FastAPI

from auth_service.config import Settings as AuthSettings
from auth_service.main import create_app as create_auth_app
from order_service.config import Settings as OrderSettings
from order_service.main import create_app as create_order_app
from product_service.config import Settings as ProductSettings
from product_service.main import create_app as create_product_app


@pytest.fixture(scope="session")
def apps(tmp_path_factory) -> list[FastAPI]:
    var = tmp_path_factory.mktemp("var")
    common: dict[str, Any] = {"APP_ENV": "test", "DB_HOST": None, "VAR_DIR": var}
    return [
        create_auth_app(AuthSettings(**common)),
        create_product_app(ProductSettings(**common)),
        create_order_app(OrderSettings(**common)),
    ]
