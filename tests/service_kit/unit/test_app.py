"""The conventions every service inherits from create_service_app: envelope, request id, health."""

import asyncio
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy import text

from service_kit.app import create_service_app
from service_kit.auth import StaticKeys
from service_kit.db.engine import create_db_engine
from service_kit.errors import VersionConflict
from service_kit.settings import ServiceSettings


class _Settings(ServiceSettings):
    def database_name(self) -> str:
        return "kit_test"


class _Item(BaseModel):
    name: str = Field(min_length=1)
    secret: str = Field(min_length=8)


def _app(tmp_path) -> FastAPI:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    settings = _Settings(VAR_DIR=tmp_path)
    app = create_service_app(
        name="kit_test",
        settings=settings,
        api_prefix="/api/v0/kit",
        key_source=StaticKeys(Ed25519PrivateKey.generate().public_key()),
    )

    @app.post("/api/v0/kit/items")
    def create_item(item: _Item) -> dict[str, str]:
        return {"name": item.name}

    @app.get("/api/v0/kit/conflict")
    def conflict() -> None:
        raise VersionConflict(details={"current_version": 3})

    @app.get("/api/v0/kit/boom")
    def boom() -> None:
        raise RuntimeError("kaboom: internal detail")

    return app


@pytest.fixture
def client(tmp_path):
    with TestClient(_app(tmp_path), raise_server_exceptions=False) as test_client:
        yield test_client


class TestErrorEnvelope:
    def test_unknown_route_is_a_404_envelope(self, client):
        response = client.get("/nope")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_wrong_method_is_a_405_envelope(self, client):
        response = client.delete("/api/v0/kit/items")
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"

    def test_validation_names_the_field_without_echoing_the_input(self, client):
        response = client.post("/api/v0/kit/items", json={"name": "", "secret": "hunter2"})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert {field["field"] for field in error["details"]["fields"]} == {"name", "secret"}
        assert "hunter2" not in response.text

    def test_malformed_json_is_a_422(self, client):
        response = client.post("/api/v0/kit/items", content=b"{nope", headers={"content-type": "application/json"})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"

    def test_business_error_keeps_its_code_and_details(self, client):
        response = client.get("/api/v0/kit/conflict")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "version_conflict"
        assert response.json()["error"]["details"] == {"current_version": 3}

    def test_unexpected_error_is_a_500_envelope_without_trace(self, client, caplog):
        with caplog.at_level(logging.ERROR):
            response = client.get("/api/v0/kit/boom", headers={"X-Request-ID": "boom-1"})
        assert response.status_code == 500
        assert response.json()["error"] == {
            "code": "internal_error",
            "message": "The server could not complete the request.",
            "details": {},
            "request_id": "boom-1",
        }
        assert response.headers["x-request-id"] == "boom-1"
        assert "kaboom" not in response.text and "Traceback" not in response.text
        assert any("kaboom" in (record.exc_text or "") or record.exc_info for record in caplog.records)


class TestRequestId:
    def test_generated_when_absent(self, client):
        response = client.get("/healthz")
        assert len(response.headers["x-request-id"]) >= 16

    def test_kept_when_given(self, client):
        response = client.get("/nope", headers={"X-Request-ID": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"
        assert response.json()["error"]["request_id"] == "abc-123"

    def test_replaced_when_it_could_forge_log_lines(self, client):
        response = client.get("/healthz", headers={"X-Request-ID": 'x" injected'})
        assert response.headers["x-request-id"] != 'x" injected'

    def test_bound_to_log_lines(self, client, caplog):
        with caplog.at_level(logging.INFO):
            client.get("/nope", headers={"X-Request-ID": "trace-me-42"})
        events = [record.msg for record in caplog.records if isinstance(record.msg, dict)]
        assert any(event.get("request_id") == "trace-me-42" and event["event"] == "request" for event in events)


class TestHealth:
    def test_healthz_answers(self, client):
        assert client.get("/healthz").json() == {"status": "ok"}

    def test_readyz_answers_when_the_database_does(self, client):
        assert client.get("/readyz").status_code == 200

    def test_readyz_is_503_when_the_database_does_not(self, tmp_path):
        app = _app(tmp_path)
        (tmp_path / "kit_test.sqlite3").mkdir()  # a directory where the database file should be
        with TestClient(app, raise_server_exceptions=False) as broken:
            response = broken.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "service_unavailable"

    def test_readyz_does_not_queue_behind_a_writer_on_sqlite(self, client):
        other_replica = create_db_engine(client.app.state.settings.database_url())
        with other_replica.begin() as writer:  # BEGIN IMMEDIATE: holds the file's write lock
            writer.execute(text("CREATE TABLE IF NOT EXISTS busy (x INTEGER)"))
            assert client.get("/readyz").status_code == 200
        other_replica.dispose()

    def test_openapi_is_served_under_the_api_prefix(self, client):
        assert client.get("/api/v0/kit/openapi.json").status_code == 200


def test_sqlite_default_uses_wal(tmp_path):
    async def journal_mode() -> str:
        database = _app(tmp_path).state.database
        async with database.engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
        await database.dispose()
        return str(mode)

    assert asyncio.run(journal_mode()) == "wal"


class TestDatabaseTrouble:
    def test_an_unreachable_database_mid_request_is_a_503_envelope(self, tmp_path):
        from sqlalchemy.exc import OperationalError

        app = _app(tmp_path)

        @app.get("/api/v0/kit/query")
        def query() -> None:
            raise OperationalError("SELECT 1", {}, Exception("Can't connect to MySQL server"))

        with TestClient(app, raise_server_exceptions=False) as test_client:
            response = test_client.get("/api/v0/kit/query")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "service_unavailable"
        assert "MySQL" not in response.text
