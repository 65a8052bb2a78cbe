"""TLS at the door, as the Kubernetes gateway runs it (GATEWAY_TLS_CERT_FILE and _KEY_FILE from a Secret):
the real nginx with a throwaway certificate, in front of the fleet's replicas."""

import socket
import ssl
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.certificates import Certificate, self_signed
from tests.support.fleet import RunningFleet
from tests.support.gateway import GatewayProcess
from tests.support.ports import free_ports
from tests.support.users import AUTH, register

HSTS = "max-age=63072000; includeSubDomains"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_gateway(
    start_extra_gateway: Callable[..., GatewayProcess], certificate: Certificate
) -> tuple[GatewayProcess, str]:
    [tls_port] = free_ports(1)
    gateway = start_extra_gateway(
        {
            "GATEWAY_TLS_CERT_FILE": str(certificate.cert_file),
            "GATEWAY_TLS_KEY_FILE": str(certificate.key_file),
            "GATEWAY_TLS_PORT": str(tls_port),
            "GATEWAY_HTTPS_PORT": str(tls_port),
            "LOGIN_RATE_LIMIT": "0",
            "API_RATE_LIMIT": "0",
            "REGISTER_RATE_LIMIT": "0",
        }
    )
    return gateway, f"https://127.0.0.1:{tls_port}"


def handshake(url: str, certificate: Certificate, **options: Any) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=certificate.cert_file)
    context.set_alpn_protocols(["h2", "http/1.1"])
    for name, value in options.items():
        setattr(context, name, value)
    host, port = url.removeprefix("https://").split(":")
    return context.wrap_socket(socket.create_connection((host, int(port)), timeout=5), server_hostname="localhost")


def test_the_handshake_is_modern_and_offers_http2(tls_gateway, certificate):
    _, https = tls_gateway
    with handshake(https, certificate) as connection:
        assert connection.version() == "TLSv1.3"
        assert connection.selected_alpn_protocol() == "h2"
    with handshake(https, certificate, maximum_version=ssl.TLSVersion.TLSv1_2) as connection:
        assert connection.version() == "TLSv1.2"
        cipher = connection.cipher()
        assert cipher is not None and cipher[0].startswith("ECDHE-")  # forward secrecy
    legacy = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    legacy.load_verify_locations(certificate.cert_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # offering TLS 1.1 is the point
        legacy.minimum_version = legacy.maximum_version = ssl.TLSVersion.TLSv1_1
    legacy.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError), socket.create_connection(("127.0.0.1", int(https.rsplit(":")[-1]))) as raw:
        legacy.wrap_socket(raw, server_hostname="localhost")


def test_every_answer_over_tls_carries_hsts_and_a_login_works(tls_gateway, certificate, fleet: RunningFleet):
    _, https = tls_gateway
    trust = ssl.create_default_context(cafile=certificate.cert_file)
    with httpx.Client(base_url=https, verify=trust, timeout=10) as client:
        account = register(client)
        login = client.post(f"{AUTH}/login", json={"email": account.email, "password": account.password})
        missing = client.get("/nowhere")
    assert login.status_code == 200 and login.json()["access_token"]
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    for response in (login, missing):
        assert response.headers["strict-transport-security"] == HSTS
    # Behind TLS the device cookie is Secure: the gateway tells auth the request came over https.
    assert "secure" in {part.strip().lower() for part in login.headers["set-cookie"].split(";")}


def test_plain_http_is_redirected_and_never_serves_a_login(tls_gateway, fleet: RunningFleet):
    gateway, https = tls_gateway
    account_body = {"email": "nobody@example.com", "password": "password-123"}
    with httpx.Client(base_url=gateway.url, timeout=10, follow_redirects=False) as plain:
        login = plain.post(f"{AUTH}/login", json=account_body)
        read = plain.get("/api/v0/products", params={"limit": 1})
        probe = plain.get("/healthz")
    for response, path in ((login, f"{AUTH}/login"), (read, "/api/v0/products?limit=1")):
        assert response.status_code == 308, response.text
        assert response.headers["location"] == f"{https}{path}"
        assert "access_token" not in response.text and "strict-transport-security" not in response.headers
    assert probe.status_code == 200  # the kubelet's probes stay on plain HTTP
    # Nothing of the login reached auth: its replicas logged no request with its id.
    request_id = login.headers["x-request-id"]
    assert not any(
        record.get("request_id") == request_id
        for program in ("auth-1", "auth-2")
        for record in fleet.log_records(program)
    )


def test_without_certificates_the_gateway_stays_on_plain_http(fleet: RunningFleet):
    response = httpx.get(f"{fleet.gateway_url}/api/v0/products", params={"limit": 1}, timeout=10)
    assert response.status_code == 200 and "strict-transport-security" not in response.headers
