"""The signing key, token minting and JWKS (passwords are `auth_service.passwords`)."""

import hashlib
import os
import secrets
import tempfile
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from auth_service.config import Settings
from service_kit.auth import ACCESS_TOKEN_TYPE, ALGORITHM, Role, StaticKeys, public_jwk


def new_refresh_token() -> str:
    """256 random bits; only its hash is stored."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # A fast hash is right here: the token is random, so there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


class Signer:
    """Mints tokens with the Ed25519 private key, and publishes its public half with the other keys in use
    during a rotation (the next one, the previous one): every key any auth replica may be signing with."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        also_published: Sequence[Ed25519PublicKey] = (),
    ) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.jwk = public_jwk(self.public_key)
        self._published = {self.jwk["kid"]: self.public_key} | {public_jwk(key)["kid"]: key for key in also_published}
        self._issuer = issuer
        self._audience = audience
        self.ttl_seconds = ttl_seconds

    def access_token(self, *, user_id: int, role: Role, now: datetime) -> str:
        return self.sign(
            {"sub": str(user_id), "role": role.value, "type": ACCESS_TOKEN_TYPE}, now=now, ttl_seconds=self.ttl_seconds
        )

    def sign(self, claims: dict[str, Any], *, now: datetime, ttl_seconds: int) -> str:
        """A JWT of `claims` from this issuer for this audience, with a fresh `jti`, valid for `ttl_seconds`."""
        registered = {
            "iat": now,
            "exp": now + timedelta(seconds=ttl_seconds),
            "jti": uuid.uuid4().hex,
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(
            {**claims, **registered}, self._private_key, algorithm=ALGORITHM, headers={"kid": self.jwk["kid"]}
        )

    def claims_of(self, token: str, *, token_type: str) -> dict[str, Any] | None:
        """The claims of a token this signer issued, of this `type`, unexpired; None for anything else."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._published.get(kid) if isinstance(kid, str) else None
            if key is None:
                return None
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["sub", "type", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError:
            return None
        return claims if claims["type"] == token_type else None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The signing key first, then the other keys in use."""
        return {"keys": [public_jwk(key) for key in self._published.values()]}

    def key_source(self) -> StaticKeys:
        return StaticKeys(*self._published.values())


def load_private_key(settings: Settings) -> Ed25519PrivateKey:
    """The configured key; in dev, the one in VAR_DIR, generated on first use."""
    if settings.JWT_PRIVATE_KEY is not None:
        pem = settings.JWT_PRIVATE_KEY.get_secret_value().encode()
    elif settings.JWT_PRIVATE_KEY_FILE is not None:
        pem = settings.JWT_PRIVATE_KEY_FILE.read_bytes()
    else:
        pem = _dev_private_key(settings.dev_private_key_file)
    key = load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the JWT private key must be an Ed25519 key")
    return key


def _dev_private_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        try:
            os.link(tmp, path)  # atomic create-if-absent: concurrent replicas agree on one key
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_bytes()


def signer_for(settings: Settings) -> Signer:
    return Signer(
        load_private_key(settings),
        issuer=settings.JWT_ISSUER,
        audience=settings.JWT_AUDIENCE,
        ttl_seconds=settings.ACCESS_TOKEN_TTL_SECONDS,
        also_published=[StaticKeys.parse_pem(pem) for pem in settings.published_public_keys()],
    )
