"""Auth's own metrics, beside the fleet's (service_kit.metrics): logins by outcome, refresh tokens presented
again after they were spent, and how many password hashes wait for a thread."""

from prometheus_client import Counter, Gauge

from auth_service.exceptions import (
    HashingBusy,
    InvalidCredentials,
    InvalidRefreshToken,
    LoginThrottled,
    RefreshTokenReused,
)
from auth_service.passwords import Passwords
from service_kit.metrics import Refusals

LOGINS = Counter(
    "auth_logins_total",
    "Login attempts, by outcome: succeeded, failed (unknown email or wrong password), throttled (too many "
    "recent failures for that email), busy (the hashing queue was full).",
    ["outcome"],
)
LOGIN_REFUSALS: Refusals = {InvalidCredentials: "failed", LoginThrottled: "throttled", HashingBusy: "busy"}

REFRESHES = Counter(
    "auth_refreshes_total",
    "Refresh-token exchanges, by outcome: succeeded, reused (a spent token presented again: its whole family "
    "is revoked), invalid.",
    ["outcome"],
)
# The subclass first: a reuse is also an invalid token.
REFRESH_REFUSALS: Refusals = {RefreshTokenReused: "reused", InvalidRefreshToken: "invalid"}

HASH_QUEUE_DEPTH = Gauge("auth_password_hash_queue_depth", "Password hashes waiting for a hashing thread right now.")


def watch_hashing(passwords: Passwords) -> None:
    HASH_QUEUE_DEPTH.set_function(lambda: max(passwords.in_flight - passwords.threads, 0))
