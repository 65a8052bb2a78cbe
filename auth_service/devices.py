"""Device cookies, OWASP's answer to lockouts: a successful login gives the client a signed, HttpOnly cookie
naming the account and a random device id. A login for that account presenting it is throttled per device
(its own limit), not per account, so others' failed guesses never lock the owner out. A client that keeps
no cookies, or logs in to another account, is a new device; a cookie signed by a retired key is ignored."""

from dataclasses import dataclass
from datetime import datetime

from auth_service.security import Signer

COOKIE = "device"
# Sent with logins only: the cookie proves nothing anywhere else.
COOKIE_PATH = "/api/v0/auth/login"
TOKEN_TYPE = "device"


@dataclass(frozen=True, slots=True)
class Device:
    id: str  # the cookie's jti: a new one with each login
    user_id: int


def issue(signer: Signer, *, user_id: int, now: datetime, ttl_seconds: int) -> str:
    """The cookie's value for a device that just logged in to `user_id`."""
    return signer.sign({"sub": str(user_id), "type": TOKEN_TYPE}, now=now, ttl_seconds=ttl_seconds)


def recognise(signer: Signer, cookie: str | None) -> Device | None:
    """The device a cookie names, if auth signed it and it has not expired."""
    claims = signer.claims_of(cookie, token_type=TOKEN_TYPE) if cookie else None
    if claims is None or not str(claims["sub"]).isdigit() or len(str(claims["jti"])) > 32:
        return None
    return Device(id=str(claims["jti"]), user_id=int(claims["sub"]))
