"""The `ServiceCaller` dependency that guards /internal/ endpoints: the shared credential, compared in constant time."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service_kit.app import create_service_app
from service_kit.auth import SERVICE_TOKEN_HEADER, ServiceCaller, StaticKeys
from service_kit.settings import InternalApiSettings

TOKEN = "a-service-token-for-tests"


class _Settings(InternalApiSettings):
    def database_name(self) -> str:
        return "kit_test"


def _app(tmp_path, token: str) -> FastAPI:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    app = create_service_app(
        name="kit_test",
        settings=_Settings(VAR_DIR=tmp_path, SERVICE_TOKEN=SecretStr(token)),
        api_prefix="/api/v0/kit",
        key_source=StaticKeys(Ed25519PrivateKey.generate().public_key()),
    )

    @app.get("/internal/ping")
    def ping(_caller: ServiceCaller) -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
def client(tmp_path):
    with TestClient(_app(tmp_path, TOKEN), raise_server_exceptions=False) as test_client:
        yield test_client


class TestServiceCaller:
    def test_the_right_token_in_its_header_passes(self, client):
        assert client.get("/internal/ping", headers={SERVICE_TOKEN_HEADER: TOKEN}).status_code == 200

    def test_the_right_token_as_a_bearer_passes(self, client):
        assert client.get("/internal/ping", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200

    def test_no_credential_is_a_401(self, client):
        response = client.get("/internal/ping")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"

    def test_an_empty_header_is_a_401(self, client):
        assert client.get("/internal/ping", headers={SERVICE_TOKEN_HEADER: ""}).status_code == 401

    @pytest.mark.parametrize("wrong", [TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "x"])
    def test_a_wrong_token_is_a_403(self, client, wrong):
        response = client.get("/internal/ping", headers={SERVICE_TOKEN_HEADER: wrong})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"

    def test_a_wrong_header_token_is_not_rescued_by_a_right_bearer(self, client):
        headers = {SERVICE_TOKEN_HEADER: "wrong", "Authorization": f"Bearer {TOKEN}"}
        assert client.get("/internal/ping", headers=headers).status_code == 403

    def test_an_empty_configured_token_admits_nobody(self, tmp_path):
        with TestClient(_app(tmp_path, ""), raise_server_exceptions=False) as client:
            assert client.get("/internal/ping", headers={SERVICE_TOKEN_HEADER: "anything"}).status_code == 403
