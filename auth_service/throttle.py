"""Login throttling per account: a few failures are free, then each further attempt for that email waits
twice as long as the last (capped), whichever addresses the attempts come from. Kept in authDB, so both
replicas agree; a successful login clears it. The gateway's per-address limit stays generous, for offices
behind one NAT."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.models import LoginFailures
from service_kit.errors import TooManyRequests


class LoginThrottled(TooManyRequests):
    code = "login_throttled"
    message = "Too many failed logins for this account; try again later."


@dataclass(frozen=True)
class LoginPolicy:
    free_attempts: int = 5
    max_block_seconds: int = 900
    forget_after_seconds: int = 3600

    def __post_init__(self) -> None:
        # Forgetting failures while their block still runs would hand the guesser fresh free attempts.
        if self.forget_after_seconds <= self.max_block_seconds:
            raise ValueError("LOGIN_FORGET_AFTER_SECONDS must exceed LOGIN_MAX_BLOCK_SECONDS")

    def blocked_until(self, failures: int, now: datetime) -> datetime | None:
        """After the free attempts, 1 s, then 2, 4, 8... up to the cap."""
        if failures < self.free_attempts:
            return None
        return now + timedelta(seconds=min(2 ** (failures - self.free_attempts), self.max_block_seconds))

    def forgotten(self, last_failed_at: datetime, now: datetime) -> bool:
        return last_failed_at <= now - timedelta(seconds=self.forget_after_seconds)


_BLOCKED_UNTIL = select(LoginFailures.blocked_until).where(LoginFailures.email == bindparam("email"))


async def check(session: AsyncSession, *, email: str, now: datetime) -> None:
    """LoginThrottled (429, Retry-After) while this email is blocked."""
    blocked_until = (await session.execute(_BLOCKED_UNTIL, {"email": email})).scalar_one_or_none()
    if blocked_until is not None and blocked_until > now:
        raise LoginThrottled(retry_after=math.ceil((blocked_until - now).total_seconds()))


async def record_failure(session: AsyncSession, *, email: str, now: datetime, policy: LoginPolicy) -> None:
    """Count a failed login for `email` (locked, so concurrent failures all count). Run with
    `retry_duplicates`: two first failures for one email race on the primary key. Rows idle past the
    policy's horizon are swept here too, so guessed emails do not pile up."""
    row = await session.get(LoginFailures, email, with_for_update=True, populate_existing=True)
    if row is None:
        session.add(
            LoginFailures(email=email, failures=1, last_failed_at=now, blocked_until=policy.blocked_until(1, now))
        )
    else:
        row.failures = 1 if policy.forgotten(row.last_failed_at, now) else row.failures + 1
        row.last_failed_at = now
        row.blocked_until = policy.blocked_until(row.failures, now)
    await session.flush()
    horizon = now - timedelta(seconds=policy.forget_after_seconds)
    await session.execute(delete(LoginFailures).where(LoginFailures.last_failed_at <= horizon))


async def clear(session: AsyncSession, *, email: str) -> None:
    """A successful login forgets the email's failures."""
    await session.execute(delete(LoginFailures).where(LoginFailures.email == email))
