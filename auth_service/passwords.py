"""Password hashing: argon2id off the event loop, bounded in threads and in queue.

Each hash holds 19 MiB and a core for tens of milliseconds, so a replica hashes at most as many passwords at once as it
has CPUs: its cgroup's quota (a pod limited to one CPU on a 32-core node gets one thread, not 32), else the
CPUs it may run on. At most `queue` more wait for a thread; beyond that a request is refused at once with a
503 and Retry-After instead of waiting behind a queue that only grows."""

import asyncio
import math
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from auth_service.exceptions import HashingBusy

# argon2id at OWASP's recommended floor (19 MiB, 2 passes).
password_hasher = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),))
# Verified against when the email is unknown, so that path costs the same as a wrong password.
_DUMMY_HASH = password_hasher.hash(secrets.token_urlsafe(16))
CGROUP_ROOT = Path("/sys/fs/cgroup")
_T = TypeVar("_T")


def usable_cpus(cgroup_root: Path | None = None) -> int:
    """The CPUs this process may use: its cgroup's CPU quota if one is set (v2 `cpu.max`, v1
    `cpu.cfs_quota_us`), rounded up, and never more than the CPUs it may be scheduled on."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota(cgroup_root or CGROUP_ROOT)
    return max(1, min(available, math.ceil(quota))) if quota else max(1, available)


def _cgroup_quota(root: Path) -> float | None:
    try:
        limit, period = (root / "cpu.max").read_text().split()[:2]  # "max 100000" or "150000 100000"
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        limit = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
        period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        return None if int(limit) <= 0 else int(limit) / int(period)
    except (OSError, ValueError):
        return None


class Passwords:
    """Hash and verify passwords, `threads` at a time, with at most `queue` more waiting."""

    def __init__(self, *, threads: int, queue: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._capacity = threads + queue
        self._admitted = 0

    @property
    def in_flight(self) -> int:
        """Hashes running or waiting for a thread."""
        return self._admitted

    async def hash(self, password: str) -> str:
        return await self._run(password_hasher.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Whether the password matches, and a fresh hash if the stored one uses outdated parameters."""
        return await self._run(_verify, password, password_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, work: Callable[..., _T], *args: str | None) -> _T:
        if self._admitted >= self._capacity:
            raise HashingBusy(retry_after=1)
        self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        finally:
            self._admitted -= 1


def _verify(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    if password_hash is None:
        password_hasher.verify(password, _DUMMY_HASH)
        return False, None
    return password_hasher.verify_and_update(password, password_hash)
