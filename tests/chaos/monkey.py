"""The chaos: one replica SIGKILLed every few seconds whenever the other replica of its service answers
/readyz, however recently that one came back, and once both product replicas frozen together (SIGSTOP, then
SIGCONT), with placements sent all through the freeze. Each kill's replacement is timed from the kill to its
first 200 on /readyz: the window in which a second death of the same service costs requests."""

import random
import threading
import time
from collections.abc import Callable

import httpx

from fleet.topology import replica_names
from fleet.waiting import FleetError, answers, wait_until
from tests.chaos.journal import Journal, Kill, now, wait_gone
from tests.support.fleet import RunningFleet

RESTART_TIMEOUT_SECONDS = 60.0
PRODUCT_REPLICAS = ("product-1", "product-2")


def partner(program: str) -> str:
    service, index = program.rsplit("-", 1)
    return f"{service}-{2 if index == '1' else 1}"


class Monkey:
    def __init__(
        self,
        fleet: RunningFleet,
        journal: Journal,
        rng: random.Random,
        *,
        kill_every: tuple[float, float],
        stall_seconds: float,
        stall_at: float,
        on_stall: Callable[[float], None] = lambda until: None,
    ) -> None:
        self._fleet = fleet
        self._journal = journal
        self._rng = rng
        self._kill_every = kill_every
        self._stall_seconds = stall_seconds
        self._stall_at = stall_at
        self._stall_done = stall_seconds <= 0
        self._on_stall = on_stall
        # Whether each replica is up again since its last kill: ready, and started in its supervisor's eyes (the
        # fleet was up before the drill).
        self._up = dict.fromkeys(replica_names(), True)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monkey", daemon=True)
        self._watchers: list[threading.Thread] = []
        self._probe = httpx.Client(timeout=1.0)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the chaos and wait until every killed replica is back."""
        self._stop.set()
        self._thread.join(timeout=RESTART_TIMEOUT_SECONDS)
        for watcher in self._watchers:
            watcher.join(timeout=RESTART_TIMEOUT_SECONDS)
        self._probe.close()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._rng.uniform(*self._kill_every)):
                if not self._stall_done and now() >= self._stall_at:
                    self._stall()
                    continue
                victim = self._pick()
                if victim is not None:
                    self._kill(victim)
        except BaseException as exc:  # reported by the verdict: a drill whose chaos broke proves nothing
            self.error = exc

    def _is_up(self, program: str) -> bool:
        with self._lock:
            return self._up[program]

    def _ready_now(self, program: str) -> bool:
        """The replica answers /readyz at this moment: it can serve, so it must."""
        return self._is_up(program) and answers(self._probe, f"{self._fleet.replica_url(program)}/readyz")

    def _pick(self) -> str | None:
        """A replica that is up, chosen at random among those whose partner is ready right now."""
        candidates = [program for program in replica_names() if self._is_up(program)]
        self._rng.shuffle(candidates)
        return next((program for program in candidates if self._ready_now(partner(program))), None)

    def _kill(self, program: str) -> None:
        with self._lock:
            self._up[program] = False
        old_pid = self._fleet.kill(program)
        index = self._journal.killed(Kill(program, now()))
        wait_gone(old_pid)
        self._journal.gone(index, now() - self._journal.kills[index].at)
        watcher = threading.Thread(target=self._watch, args=(program, old_pid, index), daemon=True)
        watcher.start()
        self._watchers.append(watcher)

    def _watch(self, program: str, old_pid: int, index: int) -> None:
        killed_at = self._journal.kills[index].at
        url = f"{self._fleet.replica_url(program)}/readyz"

        spawned: list[float] = []

        def back() -> bool:
            if not spawned:
                if self._fleet.pid(program) in (0, old_pid):
                    return False
                spawned.append(now())
            return answers(client, url)

        def started() -> bool:
            return self._fleet.supervisor.state(program) == "RUNNING"

        with httpx.Client(timeout=1.0) as client:
            try:
                wait_until(back, timeout=RESTART_TIMEOUT_SECONDS, interval=0.02, what=f"{program} to come back")
                self._journal.restarted(index, spawned[0] - killed_at, now() - killed_at)
                # A program that dies within startsecs (1 s) of its start is one the supervisor failed to start,
                # and it waits longer each time before the next try: the drill crashes running replicas.
                wait_until(started, timeout=RESTART_TIMEOUT_SECONDS, what=f"the supervisor to call {program} started")
            except FleetError as exc:
                self.error = exc
                return
        with self._lock:
            self._up[program] = True

    def _stall(self) -> None:
        """Freeze both product replicas at once, as a stuck dependency would be, then let them go."""
        wait_until(
            lambda: all(self._ready_now(program) for program in PRODUCT_REPLICAS),
            timeout=RESTART_TIMEOUT_SECONDS,
            what="both product replicas to be ready before the stall",
        )
        for program in PRODUCT_REPLICAS:
            self._fleet.kill(program, "STOP")
        began = now()
        self._on_stall(began + self._stall_seconds)
        try:
            time.sleep(self._stall_seconds)  # the stall itself: its length is the point
        finally:
            for program in PRODUCT_REPLICAS:
                self._fleet.kill(program, "CONT")
            self._journal.stall = (began, now())
            self._stall_done = True
