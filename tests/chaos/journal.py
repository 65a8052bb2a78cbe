"""What the drill saw: every request with its timing and answer, and the chaos done meanwhile."""

import threading
import time
from dataclasses import dataclass, field

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
    program: str
    at: float
    spawned_after: float | None = None  # seconds from the kill until the supervisor had started a replacement
    ready_after: float | None = None  # seconds from the kill until its replacement answered /readyz


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

    def restarted(self, index: int, spawned_after: float, ready_after: float) -> None:
        with self._lock:
            kill = self.kills[index]
            self.kills[index] = Kill(kill.program, kill.at, spawned_after, ready_after)


def now() -> float:
    return time.monotonic()
