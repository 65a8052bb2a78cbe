"""/readyz holds a replica back until its database is migrated for this code (on Kubernetes the replicas
may start before their migration Job has finished)."""

from fastapi.testclient import TestClient
from sqlalchemy import text

from auth_service.config import MIGRATIONS_DIR, Settings
from auth_service.main import create_app
from service_kit.db.engine import create_db_engine
from service_kit.db.migrate import upgrade_to_head


class TestReadinessFollowsMigrations:
    def test_not_ready_until_migrated_then_ready_also_when_a_newer_release_migrated(self, tmp_path):
        settings = Settings(APP_ENV="test", VAR_DIR=tmp_path)
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            unmigrated = client.get("/readyz")
            assert unmigrated.status_code == 503
            assert unmigrated.json()["error"]["details"]["database"] == "not_migrated"

            upgrade_to_head(settings, MIGRATIONS_DIR)
            assert client.get("/readyz").status_code == 200

            newer_release = create_db_engine(settings.database_url())
            with newer_release.begin() as connection:
                connection.execute(text("UPDATE alembic_version SET version_num = 'f0f0f0f0f0f0'"))
            newer_release.dispose()
            assert client.get("/readyz").status_code == 200
