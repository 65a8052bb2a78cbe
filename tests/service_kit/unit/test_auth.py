"""Access-token verification: only EdDSA access tokens from our issuer, for our audience, signed by a known key."""

import asyncio
import base64
import json
import time
from asyncio import run
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service_kit.auth import JwksKeys, Principal, Role, StaticKeys, TokenVerifier, public_jwk
from service_kit.errors import DependencyUnavailable, Unauthorized

ISSUER, AUDIENCE = "ecommerce-auth", "ecommerce-api"
LEEWAY = 5  # seconds, ServiceSettings' default


@pytest.fixture(scope="module")
def private_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def verifier(private_key):
    return TokenVerifier(StaticKeys(private_key.public_key()), issuer=ISSUER, audience=AUDIENCE, leeway_seconds=LEEWAY)


def claims(**overrides):
    """Valid claims with `overrides`; a timedelta is that far from now (when the token is signed)."""
    now = datetime.now(UTC)
    overrides = {key: now + value if isinstance(value, timedelta) else value for key, value in overrides.items()}
    base = {
        "sub": "7",
        "role": "user",
        "type": "access",
        "iat": now,
        "exp": now + timedelta(minutes=15),
        "jti": "j1",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def sign(private_key, payload, kid=None):
    kid = kid or public_jwk(private_key.public_key())["kid"]
    return jwt.encode(payload, private_key, algorithm="EdDSA", headers={"kid": kid})


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class TestTokenVerifier:
    def test_valid_access_token_gives_the_principal(self, verifier, private_key):
        assert run(verifier.verify(sign(private_key, claims(role="admin")))) == Principal(id=7, role=Role.ADMIN)

    @pytest.mark.parametrize(
        "bad",
        [
            {"type": "refresh"},
            {"exp": timedelta(seconds=-LEEWAY - 1)},
            {"iat": timedelta(seconds=LEEWAY + 2)},
            {"iss": "someone-else"},
            {"aud": "another-api"},
            {"role": "superuser"},
            {"sub": "not-a-number"},
            {"jti": None},
            {"type": None},
        ],
        ids=["refresh", "expired", "issued-in-the-future", "issuer", "audience", "role", "sub", "no-jti", "no-type"],
    )
    def test_rejects_wrong_claims(self, verifier, private_key, bad):
        with pytest.raises(Unauthorized):
            run(verifier.verify(sign(private_key, claims(**bad))))

    @pytest.mark.parametrize(
        "skewed",
        [{"iat": timedelta(seconds=2)}, {"exp": timedelta(seconds=-2)}],
        ids=["auth-clock-ahead", "auth-clock-behind"],
    )
    def test_tolerates_clock_skew_within_the_leeway(self, verifier, private_key, skewed):
        assert run(verifier.verify(sign(private_key, claims(**skewed)))) == Principal(id=7, role=Role.USER)

    def test_rejects_alg_none(self, verifier, private_key):
        kid = public_jwk(private_key.public_key())["kid"]
        token = f"{b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{b64(claims(exp=9999999999, iat=0))}."
        with pytest.raises(Unauthorized):
            run(verifier.verify(token))

    def test_rejects_hs256_signed_with_the_public_key(self, verifier, private_key):
        public_bytes = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        kid = public_jwk(private_key.public_key())["kid"]
        token = jwt.encode(claims(), public_bytes, algorithm="HS256", headers={"kid": kid})
        with pytest.raises(Unauthorized):
            run(verifier.verify(token))

    def test_rejects_tampered_claims(self, verifier, private_key):
        header, _payload, signature = sign(private_key, claims()).split(".")
        forged = f"{header}.{b64({**claims(role='admin'), 'iat': 0, 'exp': 9999999999})}.{signature}"
        with pytest.raises(Unauthorized):
            run(verifier.verify(forged))

    def test_rejects_a_token_signed_by_another_key(self, verifier, private_key):
        other = Ed25519PrivateKey.generate()
        with pytest.raises(Unauthorized):
            run(verifier.verify(sign(other, claims(), kid=public_jwk(private_key.public_key())["kid"])))

    @pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x"])
    def test_rejects_garbage(self, verifier, garbage):
        with pytest.raises(Unauthorized):
            run(verifier.verify(garbage))


class TestRememberedVerdicts:
    def test_a_remembered_token_is_checked_again_once_it_expired(self, private_key, monkeypatch):
        verifier = TokenVerifier(
            StaticKeys(private_key.public_key()), issuer=ISSUER, audience=AUDIENCE, leeway_seconds=LEEWAY
        )
        checks = []
        full_check = verifier._verify

        async def counted(token):
            checks.append(token)
            return await full_check(token)

        monkeypatch.setattr(verifier, "_verify", counted)
        now = time.time()
        token = sign(private_key, claims(exp=int(now) + 60))
        run(verifier.verify(token))
        run(verifier.verify(token))
        assert len(checks) == 1  # the second came from memory
        monkeypatch.setattr(time, "time", lambda: now + 60 + LEEWAY + 1)
        run(verifier.verify(token))  # PyJWT's own clock still says valid; ours sent it to the full check
        assert len(checks) == 2

    def test_only_the_exact_token_that_verified_is_remembered(self, verifier, private_key):
        token = sign(private_key, claims(role="user"))
        run(verifier.verify(token))
        header, _payload, signature = token.split(".")
        forged = f"{header}.{b64({**claims(role='admin'), 'iat': 0, 'exp': 9999999999})}.{signature}"
        with pytest.raises(Unauthorized):
            run(verifier.verify(forged))

    def test_a_refused_token_is_refused_again(self, verifier, private_key):
        other = Ed25519PrivateKey.generate()
        token = sign(other, claims(), kid=public_jwk(private_key.public_key())["kid"])
        for _ in range(2):
            with pytest.raises(Unauthorized):
                run(verifier.verify(token))

    def test_the_memory_is_bounded(self, private_key):
        small = TokenVerifier(StaticKeys(private_key.public_key()), issuer=ISSUER, audience=AUDIENCE, remembered=3)
        tokens = [sign(private_key, claims(sub=str(n), jti=f"j{n}")) for n in range(1, 6)]
        assert [run(small.verify(token)).id for token in tokens] == [1, 2, 3, 4, 5]
        assert len(small._verified) == 3


class TestJwksKeys:
    def _transport(self, keys, calls):
        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request.url.path)
            return httpx.Response(200, json={"keys": [public_jwk(key.public_key()) for key in keys]})

        return httpx.MockTransport(handler)

    def test_fetches_once_and_caches(self, private_key):
        calls: list[str] = []
        keys = JwksKeys("http://auth/jwks", client=httpx.AsyncClient(transport=self._transport([private_key], calls)))
        kid = public_jwk(private_key.public_key())["kid"]
        assert run(keys.get(kid)) is not None
        assert run(keys.get(kid)) is not None
        assert len(calls) == 1

    def test_unknown_kid_refetches_but_not_more_than_once_per_interval(self, private_key):
        calls: list[str] = []
        rotated = [private_key]
        client = httpx.AsyncClient(transport=self._transport(rotated, calls))
        keys = JwksKeys("http://auth/jwks", client=client, min_refresh_seconds=0)
        run(keys.get(public_jwk(private_key.public_key())["kid"]))
        new_key = Ed25519PrivateKey.generate()
        rotated.append(new_key)
        assert run(keys.get(public_jwk(new_key.public_key())["kid"])) is not None
        assert len(calls) == 2

        throttled = JwksKeys("http://auth/jwks", client=client, min_refresh_seconds=3600)
        run(throttled.get("unknown-1"))
        run(throttled.get("unknown-2"))
        assert len(calls) == 3

    def test_unreachable_auth_without_cached_keys_is_a_503(self):
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused")

        keys = JwksKeys("http://auth/jwks", client=httpx.AsyncClient(transport=httpx.MockTransport(refuse)))
        with pytest.raises(DependencyUnavailable):
            run(keys.get("any"))

    def test_failing_fetches_are_throttled_too(self, private_key, monkeypatch):
        now = [1000.0]
        monkeypatch.setattr(time, "monotonic", lambda: now[0])
        calls: list[str] = []
        kid = public_jwk(private_key.public_key())["kid"]
        working = [True]

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request.url.path)
            if not working[0]:
                raise httpx.ConnectError("auth is down")
            return httpx.Response(200, json={"keys": [public_jwk(private_key.public_key())]})

        keys = JwksKeys("http://auth/jwks", client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        assert run(keys.get(kid)) is not None
        working[0] = False
        now[0] += 31
        # Forged kids during an auth outage: the first triggers one fetch, which fails; the rest none.
        assert [run(keys.get(f"forged-{n}")) for n in range(50)] == [None] * 50
        now[0] += 29
        assert run(keys.get("forged-late")) is None
        assert len(calls) == 2
        now[0] += 2
        assert run(keys.get("forged-later")) is None
        assert len(calls) == 3
        assert run(keys.get(kid)) is not None  # the cached key still verifies

    def test_keyless_retries_are_throttled_but_recover(self, private_key):
        calls: list[str] = []
        working = [False]

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request.url.path)
            if not working[0]:
                raise httpx.ConnectError("auth is down")
            return httpx.Response(200, json={"keys": [public_jwk(private_key.public_key())]})

        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        keys = JwksKeys("http://auth/jwks", client=client, keyless_retry_seconds=3600)
        for _ in range(20):
            with pytest.raises(DependencyUnavailable):
                run(keys.get("any"))
        assert len(calls) == 1
        working[0] = True
        recovering = JwksKeys("http://auth/jwks", client=client, keyless_retry_seconds=0)
        assert run(recovering.get(public_jwk(private_key.public_key())["kid"])) is not None


class TestJwksKeysDuringARotation:
    """Auth's replicas may publish different key sets for a while; a key seen once is kept until every token
    it signed has expired, and a key set past its age is looked at again without making a request wait."""

    @pytest.fixture
    def clock(self, monkeypatch):
        now = [1000.0]
        monkeypatch.setattr(time, "monotonic", lambda: now[0])
        return now

    @staticmethod
    def published(listed: list[Ed25519PrivateKey], calls: list[str]) -> httpx.AsyncClient:
        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request.url.path)
            return httpx.Response(200, json={"keys": [public_jwk(key.public_key()) for key in listed]})

        return httpx.AsyncClient(transport=httpx.MockTransport(handler))

    def test_a_key_no_longer_listed_is_kept_for_the_tokens_lifetime(self, clock):
        old, new, newer = (Ed25519PrivateKey.generate() for _ in range(3))
        listed, calls = [old], list[str]()
        keys = JwksKeys(
            "http://auth/jwks", client=self.published(listed, calls), min_refresh_seconds=0, retain_seconds=900
        )
        kid = {key: public_jwk(key.public_key())["kid"] for key in (old, new, newer)}
        assert run(keys.get(kid[old])) is not None
        listed[:] = [new]  # the replica fetched from next already dropped the old key
        assert run(keys.get(kid[new])) is not None
        assert run(keys.get(kid[old])) is not None  # kept: tokens it signed a moment ago are still valid
        clock[0] += 901
        listed[:] = [newer]
        assert run(keys.get(kid[newer])) is not None
        assert run(keys.get(kid[old])) is None  # unlisted for longer than any token lives (and not back)
        assert len(calls) == 4

    def test_a_key_set_past_its_age_is_refetched_in_the_background(self, clock):
        key = Ed25519PrivateKey.generate()
        kid = public_jwk(key.public_key())["kid"]
        listed, calls = [key], list[str]()
        keys = JwksKeys("http://auth/jwks", client=self.published(listed, calls), max_age_seconds=300)

        async def settle() -> None:
            # The clock is frozen, and asyncio's timers read it: yield turns instead of sleeping.
            for _ in range(100):
                await asyncio.sleep(0)

        async def scenario() -> None:
            assert await keys.get(kid) is not None
            clock[0] += 301
            listed[:] = [Ed25519PrivateKey.generate()]  # auth retired the key
            for _ in range(5):  # answered from memory; one refetch runs beside them, however many ask
                assert await keys.get(kid) is not None
            await settle()
            assert len(calls) == 2
            clock[0] += 15 * 60 + 301
            assert await keys.get(kid) is not None
            await settle()
            assert await keys.get(kid) is None and len(calls) == 3

        run(scenario())
