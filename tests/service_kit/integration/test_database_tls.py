"""TLS to MySQL is a decision, on a real TLS-speaking MariaDB: `verify` encrypts and refuses a server whose
certificate our CA did not sign or does not name DB_HOST; `off` sends nothing encrypted, even to a server
that offers TLS (PyMySQL alone would try it and verify nothing)."""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from service_kit.app import database_for
from service_kit.db.engine import create_db_engine
from service_kit.settings import ServiceSettings
from tests.support.tls_mariadb import TlsServer, tls_mariadb


class _Settings(ServiceSettings):
    def database_name(self) -> str:
        return "mysql"  # always there: these tests read session status, nothing else


@pytest.fixture(scope="module")
def server() -> Iterator[TlsServer]:
    with tls_mariadb() as server:
        yield server


def settings_for(server: TlsServer, tmp_path: Path, **overrides: Any) -> _Settings:
    values: dict[str, Any] = {"VAR_DIR": tmp_path, "DB_HOST": "127.0.0.1", "DB_PORT": server.port, "DB_USER": "root"}
    return _Settings(**{**values, **overrides})


async def _cipher(session: AsyncSession) -> str:
    return str((await session.execute(text("SHOW SESSION STATUS LIKE 'Ssl_cipher'"))).one()[1])


def ciphers_of_both_pools(settings: _Settings) -> tuple[str, str]:
    async def main() -> tuple[str, str]:
        database = database_for(settings)
        try:
            return await database.run(_cipher), await database.read(_cipher)
        finally:
            await database.dispose()

    return asyncio.run(main())


def sync_cipher(settings: _Settings) -> str:
    engine = create_db_engine(settings.database_url(), tls=settings.database_tls())
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW SESSION STATUS LIKE 'Ssl_cipher'")).one()[1])
    finally:
        engine.dispose()


class TestVerify:
    def test_every_connection_is_encrypted(self, server, tmp_path):
        settings = settings_for(server, tmp_path, DB_TLS="verify", DB_TLS_CA_FILE=server.ca_file)
        transactions, reads = ciphers_of_both_pools(settings)
        assert transactions.startswith("TLS") and reads.startswith("TLS")
        assert sync_cipher(settings).startswith("TLS")  # migrations and tools too

    def test_a_server_our_ca_did_not_sign_is_refused(self, server, tmp_path):
        settings = settings_for(server, tmp_path, DB_TLS="verify", DB_TLS_CA_FILE=server.impostor_ca_file)
        with pytest.raises(OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
            ciphers_of_both_pools(settings)
        with pytest.raises(OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
            sync_cipher(settings)

    def test_a_certificate_for_another_name_is_refused(self, server, tmp_path):
        # The certificate names localhost and 127.0.0.1; 127.0.0.2 reaches the same server under another name.
        settings = settings_for(server, tmp_path, DB_TLS="verify", DB_TLS_CA_FILE=server.ca_file, DB_HOST="127.0.0.2")
        with pytest.raises(OperationalError, match=r"CERTIFICATE_VERIFY_FAILED.*(mismatch|match)"):
            sync_cipher(settings)


class TestOff:
    def test_nothing_is_encrypted_even_when_the_server_offers_it(self, server, tmp_path):
        settings = settings_for(server, tmp_path, DB_TLS="off")
        assert ciphers_of_both_pools(settings) == ("", "")
        assert sync_cipher(settings) == ""
