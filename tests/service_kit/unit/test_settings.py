import base64
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from service_kit.settings import DEV_SERVICE_TOKEN, InternalApiSettings, is_placeholder


class _Settings(InternalApiSettings):
    def database_name(self) -> str:
        return "thingsDB"


class TestDatabaseUrl:
    def test_sqlite_under_var_dir_without_db_host(self, tmp_path):
        url = _Settings(VAR_DIR=tmp_path).database_url()
        assert url.get_backend_name() == "sqlite"
        assert url.database == str(tmp_path / "thingsDB.sqlite3")

    def test_mysql_with_db_host(self):
        url = _Settings(DB_HOST="db", DB_PORT=3307, DB_USER="u", DB_PASS="p").database_url()
        assert (url.drivername, url.host, url.port, url.database) == ("mysql+pymysql", "db", 3307, "thingsDB")
        assert url.password == "p"


REAL: dict[str, Any] = {
    "APP_ENV": "prod",
    "SERVICE_TOKEN": "q7Vd0xK2pLm9Rt4Zs8Wb1Nc6Yh3Jf5Ga",
    "DB_HOST": "mysql",
    "DB_USER": "things_svc",
    "DB_PASS": "Xr4mT9vQ2zL7pK1w",
    "DB_TLS": "verify",
    "DB_TLS_CA_FILE": "/etc/mysql-tls/ca.pem",
}
_REPO = Path(__file__).resolve().parents[3]


def _published_values() -> dict[str, str]:
    """Every value the repository publishes: .env.dev and the Kubernetes Secret example (base64)."""
    values = {}
    for line in (_REPO / ".env.dev").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    secret = yaml.safe_load((_REPO / "deployment" / "ecommerce-secret.example.yml").read_text())
    for name, encoded in secret["data"].items():
        values[f"example {name}"] = base64.b64decode(encoded).decode()
    return values


class TestProdRefusesDevDefaults:
    def test_real_values_are_accepted(self):
        assert _Settings(**REAL).APP_ENV == "prod"

    @pytest.mark.parametrize(
        ("override", "named"),
        [
            ({"SERVICE_TOKEN": DEV_SERVICE_TOKEN}, "SERVICE_TOKEN"),
            ({"SERVICE_TOKEN": "short-but-real"}, "SERVICE_TOKEN"),
            ({"SERVICE_TOKEN": "change-me-service-token-of-forty-characters"}, "SERVICE_TOKEN"),
            ({"DB_HOST": None}, "DB_HOST"),
            ({"DB_USER": "root"}, "DB_USER"),
            ({"DB_PASS": ""}, "DB_PASS"),
            ({"DB_PASS": "dev-product-db-password"}, "DB_PASS"),
            ({"DB_TLS": "off"}, "DB_TLS"),
        ],
        ids=[
            "dev-token",
            "short-token",
            "placeholder-token",
            "no-db-host",
            "root",
            "empty-password",
            "dev-password",
            "no-tls-across-a-network",
        ],
    )
    def test_each_default_or_fallback_is_refused(self, override, named):
        with pytest.raises(ValidationError, match=named):
            _Settings(**{**REAL, **override})

    def test_defaults_alone_are_refused_naming_every_problem(self):
        with pytest.raises(ValidationError) as refused:
            _Settings(APP_ENV="prod")
        assert all(name in str(refused.value) for name in ("SERVICE_TOKEN", "DB_HOST"))

    def test_every_published_secret_is_a_placeholder(self):
        secrets = {k: v for k, v in _published_values().items() if "PASS" in k or "TOKEN" in k or "KEY" in k}
        assert len(secrets) >= 10
        assert [name for name, value in secrets.items() if not is_placeholder(value)] == []

    @pytest.mark.parametrize("name", ["SERVICE_TOKEN", "example SERVICE_TOKEN"])
    def test_the_published_service_tokens_are_refused(self, name):
        with pytest.raises(ValidationError, match="SERVICE_TOKEN"):
            _Settings(**{**REAL, "SERVICE_TOKEN": _published_values()[name]})

    @pytest.mark.parametrize("name", ["AUTH_DB_PASS", "example AUTH_DB_PASS", "example ORDER_DB_PASS"])
    def test_the_published_database_passwords_are_refused(self, name):
        with pytest.raises(ValidationError, match="DB_PASS"):
            _Settings(**{**REAL, "DB_PASS": _published_values()[name]})

    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.5"])
    def test_a_database_on_loopback_may_go_without_tls(self, host):
        assert _Settings(**{**REAL, "DB_HOST": host, "DB_TLS": "off"}).database_tls() is None

    def test_dev_settings_keep_their_defaults(self):
        assert _Settings().DB_HOST is None and _Settings().APP_ENV == "dev"


class TestDatabaseTls:
    def test_verify_needs_the_ca(self):
        with pytest.raises(ValidationError, match="DB_TLS_CA_FILE"):
            _Settings(DB_HOST="db", DB_TLS="verify")

    def test_off_is_the_default_and_means_no_context(self):
        assert _Settings(DB_HOST="db").database_tls() is None

    def test_verify_checks_the_certificate_and_the_name(self, tmp_path):
        from tests.support.tls_mariadb import write_ca

        write_ca(tmp_path, "ca")
        context = _Settings(DB_HOST="db", DB_TLS="verify", DB_TLS_CA_FILE=tmp_path / "ca.pem").database_tls()
        assert context is not None and context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
