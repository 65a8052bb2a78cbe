"""Access tokens for tests of services that only verify them (product, order): a key pair made in the test,
its public half given to the service's Settings (`JWT_PUBLIC_KEY=minter.public_pem`), tokens signed exactly
as auth signs them (service_kit.auth's claims, `kid` = the key's RFC 7638 thumbprint)."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

from service_kit.auth import ACCESS_TOKEN_TYPE, ALGORITHM, Role, public_jwk

ISSUER, AUDIENCE = "ecommerce-auth", "ecommerce-api"  # ServiceSettings' defaults


@dataclass
class TokenMinter:
    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    issuer: str = ISSUER
    audience: str = AUDIENCE

    @classmethod
    def from_pem_file(cls, path: Path, **kwargs: Any) -> "TokenMinter":
        """A minter with a key the fleet (or auth) already signs with."""
        key = load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return cls(private_key=key, **kwargs)

    @property
    def public_pem(self) -> str:
        """The verification key, for a service's JWT_PUBLIC_KEY."""
        return self.private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    @property
    def kid(self) -> str:
        return public_jwk(self.private_key.public_key())["kid"]

    def token(
        self, *, user_id: int = 1, role: Role = Role.USER, ttl: timedelta = timedelta(hours=1), **claims: Any
    ) -> str:
        """A signed access token; `claims` override or add (a None value drops that claim)."""
        now = datetime.now(UTC)
        payload: dict[str, Any] = {
            "sub": str(user_id),
            "role": role.value,
            "type": ACCESS_TOKEN_TYPE,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
        }
        payload.update(claims)
        payload = {key: value for key, value in payload.items() if value is not None}
        return jwt.encode(payload, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def headers(self, *, user_id: int = 1, role: Role = Role.USER, **claims: Any) -> dict[str, str]:
        """`Authorization: Bearer <token>` for that caller."""
        return {"Authorization": f"Bearer {self.token(user_id=user_id, role=role, **claims)}"}

    def admin_headers(self, user_id: int = 1) -> dict[str, str]:
        return self.headers(user_id=user_id, role=Role.ADMIN)

    def user_headers(self, user_id: int = 2) -> dict[str, str]:
        return self.headers(user_id=user_id, role=Role.USER)
