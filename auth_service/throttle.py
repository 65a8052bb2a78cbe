"""Login throttling, kept in authDB so both replicas agree. Every attempt is counted against one subject
*before* its password is checked (so forty guesses sent at once cost at most the free attempts' hashes):

- a client holding the account's device cookie (auth_service/devices.py) against that device alone;
- any other client (a guesser, or the owner on a new device) against the email, from whatever address.

A few attempts are free, then each further one for that subject waits twice as long as the last (capped);
a successful login clears the subject's count. The gateway's per-address limit stays generous, for offices
behind one NAT."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.exceptions import LoginThrottled
from auth_service.models import FailedLogins


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


@dataclass(frozen=True, slots=True)
class Subject:
    """What one login attempt is counted against."""

    counter: type[FailedLogins]  # LoginFailures or DeviceLoginFailures
    key: str  # the email, or the device id


async def admit(session: AsyncSession, subject: Subject, *, now: datetime, policy: LoginPolicy) -> None:
    """Count an attempt against `subject`, or refuse it (LoginThrottled, 429 with Retry-After) while the
    subject is blocked. The row is locked, so attempts racing for one subject are counted one after the
    other. Run with `retry_duplicates`: two first attempts race on the primary key. Rows idle past the
    policy's horizon are swept here too, so guessed emails do not pile up."""
    counter = subject.counter
    row = await session.get(counter, subject.key, with_for_update=True, populate_existing=True)
    if row is not None and row.blocked_until is not None and row.blocked_until > now:
        raise LoginThrottled(retry_after=math.ceil((row.blocked_until - now).total_seconds()))
    if row is None:
        session.add(
            counter(subject=subject.key, failures=1, last_failed_at=now, blocked_until=policy.blocked_until(1, now))
        )
    else:
        row.failures = 1 if policy.forgotten(row.last_failed_at, now) else row.failures + 1
        row.last_failed_at = now
        row.blocked_until = policy.blocked_until(row.failures, now)
    await session.flush()
    horizon = now - timedelta(seconds=policy.forget_after_seconds)
    await session.execute(delete(counter).where(counter.last_failed_at <= horizon))


async def clear(session: AsyncSession, subject: Subject) -> None:
    """A successful login forgets the subject's count."""
    counter = subject.counter
    await session.execute(delete(counter).where(counter.subject == subject.key))
