"""How fast a killed replica is back: SIGKILL, then the time until the supervisor has started a new process
and until that process answers /readyz (the window in which a second death would hurt)."""

import statistics
import time
from dataclasses import dataclass

import httpx

from fleet.topology import SERVICES
from fleet.waiting import answers, wait_until
from tests.support.fleet import RunningFleet


@dataclass(frozen=True)
class Recovery:
    service: str
    spawned: list[float]
    ready: list[float]

    def line(self) -> str:
        return (
            f"  {self.service:8} kill -> ready median {statistics.median(self.ready):.2f} s, "
            f"max {max(self.ready):.2f} s (-> new process {statistics.median(self.spawned):.2f} s)"
        )


def measure(fleet: RunningFleet, *, kills: int = 3) -> list[Recovery]:
    """Kill replica 1 of each service `kills` times on a quiet fleet."""
    recoveries = []
    with httpx.Client(timeout=1.0) as client:
        for service in SERVICES:
            times = [_one_kill(fleet, client, f"{service.name}-1") for _ in range(kills)]
            recoveries.append(Recovery(service.name, [spawned for spawned, _ in times], [ready for _, ready in times]))
    return recoveries


def _one_kill(fleet: RunningFleet, client: httpx.Client, program: str) -> tuple[float, float]:
    """Seconds from the kill to a new process, and to its first 200 on /readyz."""
    url = f"{fleet.replica_url(program)}/readyz"
    old_pid = fleet.kill(program)
    killed = time.monotonic()
    wait_until(lambda: fleet.pid(program) not in (0, old_pid), timeout=60, interval=0.01, what=f"{program} respawned")
    spawned = time.monotonic() - killed
    wait_until(lambda: answers(client, url), timeout=60, interval=0.01, what=f"{program} ready")
    ready = time.monotonic() - killed
    # The next kill must find it started in its supervisor's eyes (up for startsecs): one that dies sooner is a
    # start that failed, which the supervisor retries only after a growing pause.
    wait_until(lambda: fleet.supervisor.state(program) == "RUNNING", timeout=60, what=f"{program} started")
    return spawned, ready
