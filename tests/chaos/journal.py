"""What the drill saw: every request with its timing and answer, and the chaos done meanwhile."""

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

# A write's kind: what a shopper meant by it.
ORDER, REPLAY, CANCEL, RESTOCK = "order", "replay", "cancel", "restock"
WRITES = (ORDER, REPLAY, CANCEL, RESTOCK)
# The order service's answer while a replay's first request is still in flight.
IN_PROGRESS = "idempotency_in_progress"


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the client saw it; status 0 is a transport error (no answer at all)."""

    kind: str  # "read" or one of WRITES
    method: str
    path: str
    started: float
    ended: float
    status: int
    code: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def unsettled(self) -> bool:
        """An answer a client cannot take: no answer, a 5xx, or 'your first request is still in flight'."""
        return self.status == 0 or self.status >= 500 or self.code == IN_PROGRESS


@dataclass(slots=True)
class Write:
    """One write a shopper meant to make, with every attempt it took to settle it."""

    kind: str
    attempts: list[Call] = field(default_factory=list)
    settled: bool = False

    @property
    def failed_attempts(self) -> list[Call]:
        """Attempts a client cannot take as an answer (see `Call.unsettled`)."""
        return [call for call in self.attempts if call.unsettled]


@dataclass(frozen=True, slots=True)
class Kill:
    """One SIGKILL. Dying takes a moment: the replica is gone (its sockets closed) only `gone_after` it."""

    program: str
    at: float
    gone_after: float | None = None  # seconds from the signal until the process had exited
    spawned_after: float | None = None  # seconds from the kill until the supervisor had started a replacement
    ready_after: float | None = None  # seconds from the kill until its replacement answered /readyz

    @property
    def over(self) -> float:
        """When the killed process was gone (the moment of the signal if that was never seen)."""
        return self.at + (self.gone_after or 0.0)


@dataclass
class Journal:
    """Shared by every shopper and the monkey; append-only under one lock."""

    reads: list[Call] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    stall: tuple[float, float] | None = None
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, call: Call) -> None:
        with self._lock:
            self.reads.append(call)
            self.requests += 1

    def attempt(self, write: Write, call: Call) -> None:
        with self._lock:
            write.attempts.append(call)
            self.requests += 1

    def begin(self, kind: str) -> Write:
        write = Write(kind)
        with self._lock:
            self.writes.append(write)
        return write

    def killed(self, kill: Kill) -> int:
        with self._lock:
            self.kills.append(kill)
            return len(self.kills) - 1

    def gone(self, index: int, gone_after: float) -> None:
        with self._lock:
            self.kills[index] = replace(self.kills[index], gone_after=gone_after)

    def restarted(self, index: int, spawned_after: float, ready_after: float) -> None:
        with self._lock:
            self.kills[index] = replace(self.kills[index], spawned_after=spawned_after, ready_after=ready_after)


def now() -> float:
    return time.monotonic()


def wait_gone(pid: int, *, timeout: float = 10.0) -> None:
    """Until the process has exited (a zombie has: its sockets are closed), polled as tightly as a thread can."""
    deadline = now() + timeout
    while not _exited(pid):
        if now() >= deadline:
            raise TimeoutError(f"process {pid} still running {timeout:.0f} s after SIGKILL")
        time.sleep(0.001)


def _exited(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
