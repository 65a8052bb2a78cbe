"""The signing key, token minting and JWKS (passwords are `auth_service.passwords`)."""

import hashlib
import os
import secrets
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
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
    """Mints access tokens with the Ed25519 private key and publishes its public half."""

    def __init__(self, private_key: Ed25519PrivateKey, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.jwk = public_jwk(self.public_key)
        self._issuer = issuer
        self._audience = audience
        self.ttl_seconds = ttl_seconds

    def access_token(self, *, user_id: int, role: Role, now: datetime) -> str:
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "role": role.value,
            "type": ACCESS_TOKEN_TYPE,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_seconds),
            "jti": uuid.uuid4().hex,
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.jwk["kid"]})

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.jwk]}

    def key_source(self) -> StaticKeys:
        return StaticKeys(self.public_key)


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
    )
