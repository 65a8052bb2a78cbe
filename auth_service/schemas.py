import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints
from pydantic_core import PydanticCustomError

from service_kit.auth import Role

# Printable, one @, a dot in the domain: deliberately loose (no DNS, no special-use TLD rules).
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+")


def canonical_email(value: str) -> str:
    """The form an email is stored and compared in. NFC first: an é typed as one code point or as e + accent
    is the same address; then lower case."""
    return unicodedata.normalize("NFC", value.strip()).lower()


def _normalise_email(value: str) -> str:
    value = canonical_email(value)
    if not _EMAIL.fullmatch(value):
        raise ValueError("not a valid email address")
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_normalise_email)]


def _password_rules(value: SecretStr) -> SecretStr:
    length = len(value.get_secret_value())
    if length < 8:
        raise PydanticCustomError("password_too_short", "Password must be at least 8 characters.")
    if length > 256:
        raise PydanticCustomError("password_too_long", "Password must be at most 256 characters.")
    return value


Password = Annotated[SecretStr, AfterValidator(_password_rules)]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class UserCreate(BaseModel):
    # Unknown fields (a `role`, say) are ignored: a client can never choose its own role.
    model_config = ConfigDict(extra="ignore")

    username: Username
    email: Email
    password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str
    role: Role
    created_at: datetime


class RoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class LoginRequest(BaseModel):
    # No length rules here: a login must not tell which passwords could exist.
    email: Annotated[str, StringConstraints(max_length=254)]
    password: Annotated[SecretStr, Field(max_length=256)]


class RefreshRequest(BaseModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class JsonWebKey(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class JsonWebKeySet(BaseModel):
    keys: list[JsonWebKey]
