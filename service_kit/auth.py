"""Access-token verification from public keys alone, the `CurrentUser` / `AdminUser` dependencies, and the
`ServiceCaller` dependency that guards `/internal/` endpoints with the shared service credential."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from service_kit.errors import DependencyUnavailable, Forbidden, Unauthorized
from service_kit.metrics import dependency_call
from service_kit.outbound import tls_verification

ALGORITHM = "EdDSA"
ACCESS_TOKEN_TYPE = "access"
REQUIRED_CLAIMS = ("sub", "role", "type", "exp", "iat", "jti", "iss", "aud")

log = structlog.get_logger(__name__)


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as the verified access token says."""

    id: int
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The key as a JWK whose `kid` is its RFC 7638 thumbprint."""
    x = _b64url(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    kid = _b64url(hashlib.sha256(canonical.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALGORITHM, "use": "sig"}


class KeySource(Protocol):
    async def get(self, kid: str) -> Ed25519PublicKey | None: ...


class StaticKeys:
    """Keys known at start-up (a configured PEM, or auth's own signing key)."""

    def __init__(self, *keys: Ed25519PublicKey) -> None:
        self._keys = {public_jwk(key)["kid"]: key for key in keys}

    @classmethod
    def from_pem(cls, pem: str) -> "StaticKeys":
        return cls(cls.parse_pem(pem))

    @staticmethod
    def parse_pem(pem: str) -> Ed25519PublicKey:
        key = load_pem_public_key(pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("JWT public key must be an Ed25519 key")
        return key

    async def get(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)


class JwksKeys:
    """The auth service's JWKS, fetched lazily and cached.

    Refetched when an unknown `kid` appears, at most once per `min_refresh_seconds` whether the fetch works
    or not, so neither forged kids nor an auth outage turn us into a request amplifier; and at least every
    `max_age_seconds`, so a key auth retired stops being trusted. A key that a fetch no longer lists is kept
    for `retain_seconds` after it was last listed (the tokens' lifetime): during a rotation the two auth
    replicas may publish different sets, and a token signed a moment ago must not be refused by a verifier
    that happened to fetch from the other one. Until a first fetch has worked, tokens get 503 and a fetch is
    tried at most once per `keyless_retry_seconds`."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        min_refresh_seconds: float = 30.0,
        max_age_seconds: float = 300.0,
        retain_seconds: float = 15 * 60,
        keyless_retry_seconds: float = 1.0,
    ) -> None:
        self._url = url
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(2.0, connect=1.0), verify=tls_verification(url)
        )
        self._min_refresh = min_refresh_seconds
        self._max_age = max_age_seconds
        self._retain = retain_seconds
        self._keyless_retry = keyless_retry_seconds
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._last_listed: dict[str, float] = {}  # kid -> when a fetch last listed it
        self._tried_at = float("-inf")
        self._lock = asyncio.Lock()
        self._aging: asyncio.Task[None] | None = None  # a refresh of a key set past max_age, if one runs

    @property
    def client(self) -> httpx.AsyncClient:
        """The client the key set is fetched on (tracing instruments it)."""
        return self._client

    async def get(self, kid: str) -> Ed25519PublicKey | None:
        key = self._keys.get(kid)
        if key is not None:
            if time.monotonic() - self._tried_at >= self._max_age and self._aging is None:
                # Old enough to look again, in the background: no request waits on auth for a key it has.
                self._tried_at = time.monotonic()
                self._aging = asyncio.create_task(self._refresh_in_background())
            return key
        async with self._lock:
            interval = self._min_refresh if self._keys else self._keyless_retry
            if kid not in self._keys and time.monotonic() - self._tried_at >= interval:
                self._tried_at = time.monotonic()
                await self._refresh()
        if not self._keys:
            raise DependencyUnavailable("Cannot fetch the keys that verify access tokens.")
        return self._keys.get(kid)

    async def _refresh_in_background(self) -> None:
        try:
            async with self._lock:
                await self._refresh()
        finally:
            self._aging = None

    async def _refresh(self) -> None:
        try:
            with dependency_call("auth_service") as call:
                response = await self._client.get(self._url)
                call.answered(response.status_code)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("jwks_fetch_failed", url=self._url, error=str(exc))
            return  # keep every key we have: an auth outage retires nothing
        listed: dict[str, Ed25519PublicKey] = {}
        for jwk in document.get("keys", []):
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and isinstance(jwk.get("kid"), str):
                key = jwt.PyJWK.from_dict(jwk, algorithm=ALGORITHM).key
                if isinstance(key, Ed25519PublicKey):
                    listed[jwk["kid"]] = key
        now = time.monotonic()
        self._last_listed.update(dict.fromkeys(listed, now))
        retained = {
            kid: key
            for kid, key in self._keys.items()
            if kid not in listed and now - self._last_listed[kid] < self._retain
        }
        if retained:
            log.info("jwks_keys_retained", kids=sorted(retained))
        self._keys = {**retained, **listed}
        self._last_listed = {kid: self._last_listed[kid] for kid in self._keys}

    async def close(self) -> None:
        if self._aging is not None:
            self._aging.cancel()
        await self._client.aclose()


class TokenVerifier:
    """Accepts only EdDSA access tokens from our issuer for our audience, signed by a known key.

    A signature check costs more CPU than the rest of a typical read, and a client sends the
    same access token with every request until it expires. So the verdicts on the last `remembered`
    tokens are kept: the exact token string that verified maps to its caller until its `exp`. Nothing
    but a token that passed every check is kept, and a kept one still expires on time.

    `exp`, `iat` and `nbf` are judged with `leeway_seconds` to spare, since this clock is not auth's: `iat`
    is whole seconds, so a verifier a little behind auth would otherwise refuse a token used right after login."""

    def __init__(
        self, keys: KeySource, *, issuer: str, audience: str, leeway_seconds: float = 0.0, remembered: int = 4096
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._remembered = remembered
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None:
            principal, expires_at = known
            if time.time() < expires_at:
                return principal
            del self._verified[token]
        principal, expires_at = await self._verify(token)
        if len(self._verified) >= self._remembered:
            del self._verified[next(iter(self._verified))]  # the oldest verdict makes room
        self._verified[token] = (principal, expires_at)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("The access token is malformed.") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise Unauthorized("The access token is not signed with an accepted algorithm.")
        key = await self._keys.get(kid)
        if key is None:
            raise Unauthorized("The access token is signed by an unknown key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The access token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("The access token is invalid.") from exc
        if claims["type"] != ACCESS_TOKEN_TYPE:
            raise Unauthorized("This is not an access token.")
        try:
            return Principal(id=int(claims["sub"]), role=Role(claims["role"])), float(claims["exp"]) + self._leeway
        except (TypeError, ValueError) as exc:
            raise Unauthorized("The access token's claims are invalid.") from exc


_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v0/auth/login")


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The verified caller; 401 without a valid access token."""
    if credentials is None:
        raise Unauthorized("A bearer access token is required.")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


CurrentUser = Annotated[Principal, Depends(current_user)]


async def admin_user(user: CurrentUser) -> Principal:
    """The verified caller, who must be an admin; 403 otherwise."""
    if not user.is_admin:
        raise Forbidden("Only an admin may do this.")
    return user


AdminUser = Annotated[Principal, Depends(admin_user)]


SERVICE_TOKEN_HEADER = "X-Service-Token"

_service_token = APIKeyHeader(
    name=SERVICE_TOKEN_HEADER,
    auto_error=False,
    scheme_name="ServiceToken",
    description="The shared service credential (env SERVICE_TOKEN); `Authorization: Bearer <it>` works too.",
)


@dataclass(frozen=True, slots=True)
class Service:
    """A caller that proved it holds the service credential: another service of the fleet, not a user."""


async def service_caller(
    request: Request,
    token: Annotated[str | None, Depends(_service_token)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Service:
    """A fellow service; 401 without a credential, 403 with a wrong one (compared in constant time)."""
    presented = token or (credentials.credentials if credentials else None)
    if not presented:
        raise Unauthorized(f"The service credential is required ({SERVICE_TOKEN_HEADER} header).")
    expected: SecretStr = request.app.state.settings.SERVICE_TOKEN
    if not _credential_matches(presented, expected.get_secret_value()):
        raise Forbidden("The service credential is wrong.")
    return Service()


def _credential_matches(presented: str, expected: str) -> bool:
    # An empty configured credential admits nobody rather than anybody.
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


ServiceCaller = Annotated[Service, Depends(service_caller)]
