import pytest
from pydantic import ValidationError

from service_kit.settings import ServiceSettings


class _Settings(ServiceSettings):
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


class TestSecrets:
    def test_dev_service_token_is_refused_in_prod(self):
        with pytest.raises(ValidationError, match="SERVICE_TOKEN"):
            _Settings(APP_ENV="prod")

    def test_a_real_service_token_is_accepted_in_prod(self):
        assert _Settings(APP_ENV="prod", SERVICE_TOKEN="s3cret-from-env").APP_ENV == "prod"
