"""The auth app on a throwaway MariaDB database migrated by Alembic, with a test signing key."""

from functools import partial
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi.testclient import TestClient

import auth_service
from auth_service import service
from auth_service.config import Settings
from auth_service.main import create_app
from auth_service.passwords import password_hasher
from service_kit.db.migrate import upgrade_to_head
from tests.support.direct import DirectDatabase
from tests.support.mariadb import db_env, throwaway_database
from tests.support.users import Account, login

ADMIN_EMAIL, ADMIN_PASSWORD = "root-admin@example.com", "admin-password-1"


@pytest.fixture(scope="package")
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="package")
def settings(private_key, tmp_path_factory):
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    with throwaway_database("test_auth") as name:
        settings = Settings(
            APP_ENV="test",
            AUTH_DB_NAME=name,
            JWT_PRIVATE_KEY=pem,
            VAR_DIR=tmp_path_factory.mktemp("var"),
            **db_env(),
        )
        upgrade_to_head(settings, Path(auth_service.__file__).parent / "migrations")
        database = DirectDatabase(settings)
        ensure = partial(
            service.ensure_admin, email=ADMIN_EMAIL, password_hash=password_hasher.hash(ADMIN_PASSWORD), username="root"
        )
        database.run(ensure)
        database.dispose()
        yield settings


@pytest.fixture(scope="package")
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="package")
def api(client):
    return client


@pytest.fixture(scope="package")
def signing_key(private_key):
    return private_key


@pytest.fixture(scope="package")
def admin(api):
    return login(api, Account(id=0, email=ADMIN_EMAIL, password=ADMIN_PASSWORD))
