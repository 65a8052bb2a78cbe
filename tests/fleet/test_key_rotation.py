"""Rotating auth's signing key under load, as docs/deployment.md's "Rotating the signing key" says, through the real
gateway: no valid token is refused at any moment, although for a while the two auth replicas publish
different key sets and product and order fetch the JWKS from whichever answers."""

import threading

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from prometheus_client.parser import text_string_to_metric_families

from fleet.waiting import wait_until
from tests.support.fleet import RunningFleet
from tests.support.streams import Stream
from tests.support.users import AUTH, signed_up

AUTH_REPLICAS = ("auth-1", "auth-2")
ORDER_REPLICAS = ("order-1", "order-2")


def public_pem(private_pem: bytes) -> bytes:
    key = load_pem_private_key(private_pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def jwks_fetches(fleet: RunningFleet) -> list[float]:
    """How many times each order replica has fetched auth's key set."""
    counts = []
    for replica in ORDER_REPLICAS:
        text = httpx.get(f"{fleet.replica_url(replica)}/metrics", timeout=5).text
        samples = [
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "dependency_requests_total" and sample.labels.get("dependency") == "auth_service"
        ]
        counts.append(sum(samples))
    return counts


def roll(fleet: RunningFleet) -> None:
    """Restart auth's replicas one after the other, each ready before the next goes: a rolling deploy."""
    for replica in AUTH_REPLICAS:
        fleet.wait_restarted(replica, fleet.kill(replica), timeout=30)


def test_rotating_the_signing_key_under_load_refuses_no_valid_token(fleet: RunningFleet, gateway: httpx.Client):
    shopper = signed_up(gateway)
    issued_before = shopper.access_token  # signed by the key being retired, valid for 15 more minutes
    credentials = {"email": shopper.email, "password": shopper.password}
    latest = {"token": issued_before}
    kids_used: set[str] = set()
    lock = threading.Lock()

    def log_in(client: httpx.Client) -> httpx.Response:
        response = client.post(f"{AUTH}/login", json=credentials)
        if response.status_code == 200:
            token = response.json()["access_token"]
            with lock:
                latest["token"] = token
                kids_used.add(kid_of(token))
        return response

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    stream = Stream(
        calls=[
            log_in,
            lambda client: client.get(f"{AUTH}/me", headers=bearer(latest["token"])),  # auth verifies
            lambda client: client.get(f"{AUTH}/me", headers=bearer(issued_before)),
            lambda client: client.get("/api/v0/orders", headers=bearer(latest["token"])),  # order, by JWKS
            lambda client: client.get("/api/v0/orders", headers=bearer(issued_before)),
        ],
        expected={f"{AUTH}/login": 200, f"{AUTH}/me": 200, "/api/v0/orders": 200},
        url=fleet.gateway_url,
    )
    key_file = fleet.jwt_private_key_file
    current = key_file.read_bytes()
    upcoming = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    stream.start()
    try:
        stream.wait_for(40)
        # 1. Publish the next key beside the current one; every replica still signs with the current one.
        fleet.jwt_published_key_file("next").write_bytes(public_pem(upcoming))
        roll(fleet)
        # ... and wait until every verifier has looked at the key set since (JWKS_REFRESH_SECONDS).
        fetched = jwks_fetches(fleet)
        wait_until(
            lambda: all(now > then for now, then in zip(jwks_fetches(fleet), fetched, strict=True)),
            timeout=30,
            what="every order replica to fetch auth's key set again",
        )
        stream.wait_for(40)
        # 2. Sign with the next key, and keep publishing the one that signed until now.
        key_file.write_bytes(upcoming)
        fleet.jwt_published_key_file("previous").write_bytes(public_pem(current))
        fleet.jwt_published_key_file("next").write_bytes(b"")
        roll(fleet)
        stream.wait_for(80)
    finally:
        stream.stop()

    assert stream.failures == [], stream.failures[:10]
    retired, signing = kid_of(issued_before), kid_of(latest["token"])
    assert retired != signing and signing in kids_used  # the stream used tokens of both keys
    published = [key["kid"] for key in gateway.get(f"{AUTH}/.well-known/jwks.json").json()["keys"]]
    assert published == [signing, retired]  # the signing key first, the previous one until its tokens expire
