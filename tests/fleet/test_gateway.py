"""The gateway through real nginx: routing, nginx's own answers, request ids, body and rate limits,
trusted proxies, and what a client sees when every replica of a service is down."""

import json
import re
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support.browser import rendered_dom, rendered_paths
from tests.support.fleet import RunningFleet, wait_for_record
from tests.support.gateway import GatewayProcess
from tests.support.users import signed_up, unique_email

GENERATED_ID = re.compile(r"[0-9a-f]{32}")
ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ExtraGateway = Callable[..., GatewayProcess]


def new_request_id() -> str:
    return f"test-{uuid.uuid4().hex}"


def assert_gateway_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """nginx's own error: the API.md envelope as JSON, carrying the response's request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert error["request_id"] == response.headers["x-request-id"]
    assert "<html" not in response.text.lower()
    return error


def upstream_of(fleet: RunningFleet, request_id: str) -> str:
    """The replica address(es) the gateway's access log names for the request ("" if none)."""
    record = wait_for_record(lambda: fleet.log_records("gateway"), lambda r: r.get("request_id") == request_id)
    return str(record["upstream_addr"])


def service_addresses(fleet: RunningFleet, service: str) -> set[str]:
    return {replica.address for replica in fleet.config.replicas if replica.service.name == service}


def wrong_login(client: httpx.Client, url: str, *, email: str | None = None, **headers: str) -> httpx.Response:
    """A login that fails; for a fresh email each time unless told, so the auth service's per-account
    throttle stays out of what the gateway's per-address limits are tested for."""
    email = email or f"nobody-{uuid.uuid4().hex[:12]}@example.com"
    return client.post(f"{url}/api/v0/auth/login", json={"email": email, "password": "wrong-password"}, headers=headers)


# Small limits, so a test reaches them in a few requests (the defaults are generous by design).
TIGHT_LOGIN = {"LOGIN_RATE_LIMIT": "10", "LOGIN_RATE_BURST": "5"}


class TestRouting:
    @pytest.mark.parametrize(
        ("path", "service"),
        [
            ("/api/v0/auth/.well-known/jwks.json", "auth"),
            ("/api/v0/auth/openapi.json", "auth"),
            ("/api/v0/products", "product"),
            ("/api/v0/products/openapi.json", "product"),
            ("/api/v0/orders", "order"),
            ("/api/v0/orders/openapi.json", "order"),
        ],
    )
    def test_each_prefix_reaches_its_own_service(self, fleet: RunningFleet, gateway: httpx.Client, path, service):
        request_id = new_request_id()
        gateway.get(path, headers={"X-Request-ID": request_id})
        assert upstream_of(fleet, request_id) in service_addresses(fleet, service)

    @pytest.mark.parametrize("path", ["/api/v0/productsX", "/api/v0/ordersX/1", "/api/v0/authX/login", "/api/v0"])
    def test_lookalike_prefix_is_not_routed(self, fleet: RunningFleet, gateway: httpx.Client, path):
        response = gateway.get(path)
        assert_gateway_error(response, 404, "not_found")
        assert upstream_of(fleet, response.headers["x-request-id"]) == ""

    @pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
    @pytest.mark.parametrize("path", ["/internal/products/1", "/internal/", "/internal/stock/reservations"])
    def test_internal_endpoints_are_never_public(self, fleet: RunningFleet, gateway: httpx.Client, method, path):
        response = gateway.request(method, path, json={})
        assert_gateway_error(response, 404, "not_found")
        assert upstream_of(fleet, response.headers["x-request-id"]) == ""

    @pytest.mark.parametrize(
        "raw_path",
        [
            b"/api/v0/products/..%2f..%2finternal/x",
            b"/api/v0/products/..%2F..%2F..%2Finternal/products/1",
            b"/api/v0/products/%2e%2e/%2e%2e/%2e%2e/internal/products/1",
            b"/api/v0/orders/../../../internal/products/1",
            b"/api/v0/auth/..%2f..%2f..%2finternal/products/1",
        ],
    )
    def test_encoded_traversal_to_internal_is_not_routed(self, fleet: RunningFleet, raw_path: bytes):
        # httpx would normalise the path; the raw target goes on the wire as written.
        with httpx.Client(timeout=10.0) as client:
            request = client.build_request("GET", fleet.gateway_url)
            request.url = request.url.copy_with(raw_path=raw_path)
            response = client.send(request)
        assert_gateway_error(response, 404, "not_found")
        assert upstream_of(fleet, response.headers["x-request-id"]) == ""

    def test_unknown_path_is_a_json_404_envelope(self, gateway: httpx.Client):
        assert_gateway_error(gateway.get("/no/such/thing"), 404, "not_found")

    def test_root_is_a_json_404_envelope(self, gateway: httpx.Client):
        assert_gateway_error(gateway.get("/"), 404, "not_found")

    def test_internal_listener_routes_internal_to_product(self, fleet: RunningFleet):
        request_id = new_request_id()
        httpx.get(f"{fleet.internal_url}/internal/nothing-here", headers={"X-Request-ID": request_id}, timeout=10)
        assert upstream_of(fleet, request_id) in service_addresses(fleet, "product")

    def test_internal_listener_serves_the_jwks(self, fleet: RunningFleet):
        response = httpx.get(f"{fleet.internal_url}/api/v0/auth/.well-known/jwks.json", timeout=10)
        assert response.status_code == 200
        assert response.json()["keys"]


class TestHealth:
    def test_healthz_answers_ok_json(self, gateway: httpx.Client):
        response = gateway.get("/healthz")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {"status": "ok"}
        assert GENERATED_ID.fullmatch(response.headers["x-request-id"])

    def test_healthz_refuses_writes_with_an_envelope(self, gateway: httpx.Client):
        response = gateway.post("/healthz")
        assert_gateway_error(response, 405, "method_not_allowed")
        assert "GET" in response.headers["allow"]

    def test_server_header_hides_the_version(self, gateway: httpx.Client):
        assert not re.search(r"\d", gateway.get("/healthz").headers.get("server", ""))


class TestOpenApi:
    @pytest.mark.parametrize(
        ("name", "title"), [("auth", "auth_service"), ("products", "product_service"), ("orders", "order_service")]
    )
    def test_openapi_document_is_reachable(self, gateway: httpx.Client, name, title):
        response = gateway.get(f"/api/v0/{name}/openapi.json")
        assert response.status_code == 200
        document = response.json()
        assert document["openapi"].startswith("3.")
        assert document["info"]["title"] == title

    @pytest.mark.parametrize("name", ["auth", "products", "orders"])
    def test_the_public_document_holds_only_what_the_gateway_routes(self, gateway: httpx.Client, name):
        paths = gateway.get(f"/api/v0/{name}/openapi.json").json()["paths"]
        assert paths and all(path.startswith(f"/api/v0/{name}") for path in paths), sorted(paths)

    def test_internal_operations_have_a_document_of_their_own_off_the_public_door(
        self, fleet: RunningFleet, gateway: httpx.Client
    ):
        assert_gateway_error(gateway.get("/internal/openapi.json"), 404, "not_found")
        internal = httpx.get(f"{fleet.internal_url}/internal/openapi.json", timeout=10.0).json()
        assert {"/internal/reservations", "/healthz", "/readyz"} <= set(internal["paths"])
        assert internal["info"]["title"] == "product_service (internal)"

    @pytest.mark.parametrize("name", ["auth", "products", "orders"])
    def test_interactive_docs_are_reachable(self, gateway: httpx.Client, name):
        response = gateway.get(f"/api/v0/{name}/docs")
        assert response.status_code == 200
        assert f"/api/v0/{name}/openapi.json" in response.text

    @pytest.mark.parametrize("name", ["auth", "products", "orders"])
    def test_the_docs_page_draws_every_operation_with_no_internet(
        self, fleet: RunningFleet, gateway: httpx.Client, name
    ):
        # A real browser that can reach only this machine: every script and style must come from the fleet.
        document = gateway.get(f"/api/v0/{name}/openapi.json").json()
        dom = rendered_dom(f"{fleet.gateway_url}/api/v0/{name}/docs")
        assert rendered_paths(dom) == set(document["paths"]), dom[-2000:]
        assert document["info"]["title"] in dom


class TestBodyLimit:
    def test_body_over_one_mib_is_a_413_envelope(self, gateway: httpx.Client):
        response = gateway.post(
            "/api/v0/auth/register", content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"}
        )
        assert_gateway_error(response, 413, "payload_too_large")

    def test_body_just_under_one_mib_reaches_the_service(self, fleet: RunningFleet, gateway: httpx.Client):
        request_id = new_request_id()
        body = b'{"email": "a@example.com", "password": "' + b"p" * (1024 * 1024 - 100) + b'"}'
        response = gateway.post(
            "/api/v0/auth/login", content=body, headers={"Content-Type": "application/json", "X-Request-ID": request_id}
        )
        assert response.status_code == 422  # the service's own verdict on an absurd password, not nginx's
        assert upstream_of(fleet, request_id) in service_addresses(fleet, "auth")


class TestRequestsNginxCannotRead:
    """Errors nginx answers before it has a request line still come in the envelope (a named error
    location there made nginx answer its own HTML 500)."""

    def test_a_uri_over_the_header_buffer_is_a_414_envelope(self, gateway: httpx.Client):
        response = gateway.get("/api/v0/products", params={"q": "a" * 9000})
        assert_gateway_error(response, 414, "uri_too_long")

    def test_a_request_line_that_is_not_http_is_a_400_envelope(self, fleet: RunningFleet):
        host, port = fleet.gateway_url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(b"NOT A REQUEST LINE\r\n\r\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), answer[:200]
        assert json.loads(body)["error"]["code"] == "bad_request"


class TestRequestId:
    def test_generated_when_absent(self, gateway: httpx.Client):
        first = gateway.get("/api/v0/auth/.well-known/jwks.json").headers["x-request-id"]
        second = gateway.get("/api/v0/auth/.well-known/jwks.json").headers["x-request-id"]
        assert GENERATED_ID.fullmatch(first)
        assert first != second

    def test_kept_when_given(self, gateway: httpx.Client):
        request_id = "client-chosen.id:42_" + uuid.uuid4().hex
        response = gateway.get("/api/v0/auth/.well-known/jwks.json", headers={"X-Request-ID": request_id})
        assert response.headers["x-request-id"] == request_id
        # One id, not the gateway's and the service's side by side.
        assert response.headers.get_list("x-request-id") == [request_id]

    @pytest.mark.parametrize("unsafe", ["has space", "x" * 129, 'quote"s', "new\\nline", "semi;colon"])
    def test_replaced_when_unsafe(self, gateway: httpx.Client, unsafe):
        response = gateway.get("/api/v0/auth/.well-known/jwks.json", headers={"X-Request-ID": unsafe})
        assert response.status_code == 200
        assert response.headers["x-request-id"] != unsafe
        assert GENERATED_ID.fullmatch(response.headers["x-request-id"])

    def test_kept_on_the_gateways_own_errors(self, gateway: httpx.Client):
        request_id = new_request_id()
        response = gateway.get("/nowhere", headers={"X-Request-ID": request_id})
        assert response.headers["x-request-id"] == request_id
        assert response.json()["error"]["request_id"] == request_id

    def test_same_id_appears_in_the_service_log(self, fleet: RunningFleet, gateway: httpx.Client):
        request_id = new_request_id()
        gateway.get("/api/v0/auth/.well-known/jwks.json", headers={"X-Request-ID": request_id})

        def auth_records() -> list[dict[str, Any]]:
            return fleet.log_records("auth-1") + fleet.log_records("auth-2")

        record = wait_for_record(auth_records, lambda r: r.get("request_id") == request_id)
        assert record["path"] == "/api/v0/auth/.well-known/jwks.json"
        assert record["service"] == "auth_service"

    def test_generated_id_reaches_the_service_log(self, fleet: RunningFleet, gateway: httpx.Client):
        request_id = gateway.get("/api/v0/products/openapi.json").headers["x-request-id"]

        def product_records() -> list[dict[str, Any]]:
            return fleet.log_records("product-1") + fleet.log_records("product-2")

        wait_for_record(product_records, lambda r: r.get("request_id") == request_id)

    def test_gateway_access_log_is_json_with_the_id(self, fleet: RunningFleet, gateway: httpx.Client):
        request_id = new_request_id()
        gateway.get("/api/v0/orders/openapi.json", headers={"X-Request-ID": request_id})
        record = wait_for_record(lambda: fleet.log_records("gateway"), lambda r: r.get("request_id") == request_id)
        assert record["status"] == 200
        assert record["uri"] == "/api/v0/orders/openapi.json"
        assert record["upstream_addr"] in service_addresses(fleet, "order")
        assert isinstance(record["request_time"], float | int)


class TestRateLimits:
    def test_thirty_accounts_log_in_from_one_address_without_a_429(
        self, fleet: RunningFleet, gateway: httpx.Client, start_extra_gateway: ExtraGateway
    ):
        # An office behind one NAT, or a test client: the default per-address limit leaves room for them.
        accounts = [signed_up(gateway) for _ in range(30)]
        front = start_extra_gateway()
        with httpx.Client(timeout=30.0) as client:
            statuses = [
                client.post(
                    f"{front.url}/api/v0/auth/login", json={"email": a.email, "password": a.password}
                ).status_code
                for a in accounts
            ]
        assert statuses == [200] * 30

    def test_a_flood_of_logins_from_one_address_meets_a_429_envelope(self, start_extra_gateway: ExtraGateway):
        gateway = start_extra_gateway()  # the defaults: 120 a minute, 60 at once
        with httpx.Client(timeout=10.0) as client:
            statuses, throttled = [], None
            for _ in range(100):
                response = wrong_login(client, gateway.url)
                statuses.append(response.status_code)
                if response.status_code == 429:
                    throttled = response
                    break
        assert throttled is not None, statuses
        assert_gateway_error(throttled, 429, "rate_limited")
        assert int(throttled.headers["retry-after"]) >= 1
        assert statuses.count(401) >= 61, statuses  # one, then the burst of 60, all let through

    def test_registrations_have_their_own_low_limit(self, start_extra_gateway: ExtraGateway):
        gateway = start_extra_gateway()  # the defaults: 10 a minute, 5 at once
        with httpx.Client(timeout=30.0) as client:
            statuses = [
                client.post(
                    f"{gateway.url}/api/v0/auth/register",
                    json={"username": "u", "email": unique_email(), "password": "password-123"},
                ).status_code
                for _ in range(10)
            ]
            throttled = client.post(
                f"{gateway.url}/api/v0/auth/register",
                json={"username": "u", "email": unique_email(), "password": "password-123"},
            )
        assert statuses[:6] == [201] * 6 and 429 in statuses, statuses
        assert_gateway_error(throttled, 429, "rate_limited")
        assert throttled.headers["retry-after"] == "6"

    def test_another_client_address_has_its_own_allowance(self, start_extra_gateway: ExtraGateway):
        gateway = start_extra_gateway(TIGHT_LOGIN)
        with httpx.Client(timeout=10.0) as client:
            assert any(wrong_login(client, gateway.url).status_code == 429 for _ in range(30))
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=other, timeout=10.0) as client:
            assert wrong_login(client, gateway.url).status_code == 401

    def test_an_ipv6_client_is_one_client_across_its_slash_64(self, start_extra_gateway: ExtraGateway):
        # One subscriber's /64 shares an allowance however many addresses it hops across; the next /64 and
        # IPv4 clients (mapped into IPv6 or not) have their own.
        gateway = start_extra_gateway({**TIGHT_LOGIN, "TRUSTED_PROXIES": "127.0.0.1/32"})

        def statuses_from(addresses: list[str]) -> list[int]:
            with httpx.Client(timeout=10.0) as client:
                return [wrong_login(client, gateway.url, **{"X-Forwarded-For": a}).status_code for a in addresses]

        hopping = statuses_from([f"2001:db8:5:6:{n:x}::{n + 1:x}" for n in range(12)])
        assert hopping.count(401) == 6 and 429 in hopping, hopping
        assert statuses_from(["2001:db8:5:7::1"]) == [401]
        assert statuses_from([f"::ffff:10.9.0.{n}" for n in range(12)]) == [401] * 12
        assert statuses_from([f"10.9.1.{n}" for n in range(12)]) == [401] * 12

    def test_api_rate_limit_gives_429(self, start_extra_gateway: ExtraGateway):
        gateway = start_extra_gateway({"API_RATE_LIMIT": "5", "API_RATE_BURST": "5"})
        with httpx.Client(timeout=10.0) as client:
            responses = [client.get(f"{gateway.url}/api/v0/auth/.well-known/jwks.json") for _ in range(30)]
        statuses = [response.status_code for response in responses]
        assert statuses[0] == 200
        throttled = [response for response in responses if response.status_code == 429]
        assert throttled, statuses
        error = assert_gateway_error(throttled[0], 429, "rate_limited")
        assert error["details"]["retry_after_seconds"] == int(throttled[0].headers["retry-after"])

    def test_default_api_rate_limit_stops_a_flood(self, start_extra_gateway: ExtraGateway):
        gateway = start_extra_gateway()
        url = f"{gateway.url}/api/v0/auth/.well-known/jwks.json"
        with httpx.Client(timeout=10.0) as client, ThreadPoolExecutor(max_workers=8) as pool:
            # 1000 requests from one address, 8 at a time: far above the default 50/s plus its burst of 100.
            statuses = list(pool.map(lambda _: client.get(url).status_code, range(1000)))
        assert 429 in statuses
        assert statuses.count(200) >= 100  # the burst is honoured
        assert set(statuses) == {200, 429}

    def test_zero_turns_the_limits_off(self, fleet: RunningFleet, gateway: httpx.Client):
        # The session's fleet runs with LOGIN_, REGISTER_ and API_RATE_LIMIT=0.
        statuses = {wrong_login(gateway, fleet.gateway_url).status_code for _ in range(30)}
        statuses |= {gateway.get("/api/v0/auth/.well-known/jwks.json").status_code for _ in range(300)}
        assert 429 not in statuses


class TestTrustedProxies:
    def test_forwarded_for_is_ignored_when_no_proxy_is_trusted(self, start_extra_gateway: ExtraGateway):
        gateway = start_extra_gateway(TIGHT_LOGIN)
        with httpx.Client(timeout=10.0) as client:
            statuses = [
                wrong_login(client, gateway.url, **{"X-Forwarded-For": f"10.1.0.{n}"}).status_code for n in range(30)
            ]
        assert 429 in statuses

    def test_forwarded_for_names_the_client_behind_a_trusted_proxy(self, start_extra_gateway: ExtraGateway):
        gateway = start_extra_gateway({**TIGHT_LOGIN, "TRUSTED_PROXIES": "127.0.0.1/32"})
        with httpx.Client(timeout=10.0) as client:
            statuses = [
                wrong_login(client, gateway.url, **{"X-Forwarded-For": f"10.2.0.{n}"}).status_code for n in range(15)
            ]
            # Each client behind the proxy has its own allowance; one of them alone is still throttled.
            repeated = [
                wrong_login(client, gateway.url, **{"X-Forwarded-For": "10.2.1.1"}).status_code for _ in range(15)
            ]
        assert set(statuses) == {401}
        assert 429 in repeated
        record = wait_for_record(gateway.log_records, lambda r: r.get("remote_addr") == "10.2.0.7")
        assert record["uri"] == "/api/v0/auth/login"

    def test_untrusted_peer_cannot_borrow_other_addresses(self, start_extra_gateway: ExtraGateway):
        gateway = start_extra_gateway({**TIGHT_LOGIN, "TRUSTED_PROXIES": "127.0.0.1/32"})
        untrusted = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=untrusted, timeout=10.0) as client:
            statuses = [
                wrong_login(client, gateway.url, **{"X-Forwarded-For": f"10.3.0.{n}"}).status_code for n in range(30)
            ]
        assert 429 in statuses
        assert not any(record.get("remote_addr", "").startswith("10.3.") for record in gateway.log_records())


class TestServiceDown:
    def test_all_replicas_down_is_a_502_envelope(self, fleet: RunningFleet, gateway: httpx.Client):
        try:
            fleet.stop_program("order-1")
            fleet.stop_program("order-2")
            response = gateway.get("/api/v0/orders/openapi.json")
            assert_gateway_error(response, 502, "bad_gateway")
            # Other services are unaffected.
            assert gateway.get("/api/v0/auth/.well-known/jwks.json").status_code == 200
        finally:
            fleet.start_program("order-1")
            fleet.start_program("order-2")
        assert gateway.get("/api/v0/orders/openapi.json").status_code == 200

    def test_replicas_that_do_not_answer_give_a_504_envelope(self, fleet: RunningFleet, start_extra_gateway):
        gateway = start_extra_gateway({"UPSTREAM_READ_TIMEOUT": "1s"})
        try:
            fleet.kill("order-1", "STOP")
            fleet.kill("order-2", "STOP")
            response = httpx.get(f"{gateway.url}/api/v0/orders/openapi.json", timeout=30.0)
        finally:
            fleet.kill("order-1", "CONT")
            fleet.kill("order-2", "CONT")
        assert_gateway_error(response, 504, "gateway_timeout")
        fleet.wait_program_ready("order-1")
        fleet.wait_program_ready("order-2")
