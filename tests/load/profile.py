"""`make profile`: where one replica spends its time under load. Starts the bench's fleet and shop, loads one
scenario through the gateway with wrk, samples one replica with py-spy meanwhile, and prints the functions
with the most samples: on top of the stack (self) and anywhere in it (total).

With `--startup SERVICE` it profiles a replica's start instead: replica 1 of that service is started by hand
(its supervisor holds it stopped), timed from exec to its first 200 on /readyz a few times unprofiled, then
once under py-spy from exec to that first 200. That time is the window in which a second death of the same
service costs requests (docs/operations.md: "When a replica dies").

    python -m tests.load.profile [--scenario product] [--seconds 15] [--connections 16] [--top 25]
    python -m tests.load.profile --startup product [--starts 5]
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from fleet.config import REPO_ROOT
from fleet.topology import SERVICES
from fleet.waiting import answers, wait_until
from tests.load.__main__ import stocked_shop, targets
from tests.load.wrk import require_wrk, run
from tests.support.fleet import RunningFleet, running_fleet

# A scenario of the bench's targets -> the replica sampled.
SCENARIOS = {
    "product": "product-1",
    "not-modified": "product-1",
    "list": "product-1",
    "me": "auth-1",
    "orders": "order-1",
    "order": "order-1",
    "order-product": "product-1",
}


def stacks_through(raw: Path, function: str, top: int) -> str:
    """The commonest whole stacks that pass through `function` (a substring of a frame), leaf last."""
    stacks: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if function in stack:
            stacks[" <- ".join(_function(frame) for frame in stack.split(";")[::-1][:12])] += int(count_text)
    return "\n".join(f"{count:6d}  {stack}" for stack, count in stacks.most_common(top))


def summarise(raw: Path, top: int) -> str:
    """py-spy's collapsed stacks ("frame;frame;... count" per line) as two top-N tables."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    lines = [f"{total} samples"]
    for title, counter in (("self", own), ("total", anywhere)):
        lines.append(f"\n{title:>6}  function")
        lines.extend(f"{count / total:6.1%}  {name}" for name, count in counter.most_common(top))
    return "\n".join(lines)


def _function(frame: str) -> str:
    """`handler (path/to/module.py:12)` -> `handler (module.py)`: one row per function, not per line."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 2)
    return f"{name} ({'/'.join(file[-2:])})"


def start_replica(fleet: RunningFleet, program: str, *, profile_to: Path | None = None, rate: int = 0) -> float:
    """Start the (stopped) program's replica by hand, optionally under py-spy; seconds from exec to its first
    200 on /readyz. The replica is stopped again (SIGTERM) before this returns, and py-spy has written."""
    replica = fleet.config.replica(program)
    argv = [sys.executable, "-m", replica.service.module]
    if profile_to is not None:
        sampler = [sys.prefix + "/bin/py-spy", "record", "--rate", str(rate), "--format", "raw"]
        # --idle: a start's waits (the database, the first probe) are as much part of it as its work.
        argv = [*sampler, "--output", str(profile_to), "--idle", "--", *argv]
    env = {**fleet.config.env, "HOST": replica.host, "PORT": str(replica.port)}
    began = time.monotonic()
    process = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(timeout=1.0) as client:
            url = f"{replica.url}/readyz"
            wait_until(lambda: answers(client, url), timeout=60, interval=0.005, what=f"{program} ready")
        ready = time.monotonic() - began
    finally:
        # Under py-spy the replica is py-spy's child, and py-spy writes its file once the replica has exited.
        replica_pid = process.pid if profile_to is None else _only_child(process.pid)
        os.kill(replica_pid, signal.SIGTERM)
        process.wait(timeout=60)
    return ready


def _only_child(pid: int) -> int:
    [child] = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(child)


def profile_startup(fleet: RunningFleet, service: str, *, starts: int, rate: int, top: int, state: Path) -> str:
    """The replica's start: timed `starts` times, then profiled once."""
    program = f"{service}-1"
    fleet.stop_program(program)
    try:
        seconds = [start_replica(fleet, program) for _ in range(starts)]
        raw = state / "startup.txt"
        profiled = start_replica(fleet, program, profile_to=raw, rate=rate)
    finally:
        fleet.start_program(program)
    times = ", ".join(f"{value:.2f}" for value in seconds)
    return (
        f"{program}: exec -> first 200 on /readyz: median {statistics.median(seconds):.2f} s ({times}); "
        f"{profiled:.2f} s under py-spy at {rate} samples a second\n{summarise(raw, top)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.load.profile", description=__doc__)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="product")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=int, default=200, help="samples a second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--through", help="also print the commonest stacks through this function")
    parser.add_argument(
        "--idle", action="store_true", help="every thread, waiting or not (default: the one holding the GIL)"
    )
    parser.add_argument("--startup", choices=[service.name for service in SERVICES], help="profile a start instead")
    parser.add_argument("--starts", type=int, default=5, help="unprofiled starts timed before the profiled one")
    args = parser.parse_args()
    if args.startup:
        with tempfile.TemporaryDirectory(prefix="profile-") as state, running_fleet(Path(state)) as fleet:
            print(
                profile_startup(
                    fleet, args.startup, starts=args.starts, rate=args.rate, top=args.top, state=Path(state)
                )
            )
        return
    require_wrk()
    program = SCENARIOS[args.scenario]
    key = args.scenario.removesuffix("-product")  # the order scenario, sampled on product's side
    with tempfile.TemporaryDirectory(prefix="profile-") as state, running_fleet(Path(state)) as fleet:
        [scenario] = [target.scenario for target in targets(stocked_shop(fleet)) if target.key == key]
        raw = Path(state) / "profile.txt"
        load = threading.Thread(
            target=run,
            args=(fleet.gateway_url, scenario),
            kwargs={"seconds": args.seconds + 4, "warmup": 2, "connections": args.connections, "threads": 1},
        )
        load.start()
        threading.Event().wait(3)  # sample the steady state: after the warm-up's first seconds
        sampler = [sys.prefix + "/bin/py-spy", "record", "--pid", str(fleet.pid(program)), "--rate", str(args.rate)]
        sampler += ["--duration", str(args.seconds), "--format", "raw", "--output", str(raw), "--nonblocking"]
        subprocess.run(sampler + (["--idle"] if args.idle else ["--gil"]), check=True, capture_output=True)
        load.join()
        print(f"{scenario.name} on {program}, wrk -t1 -c{args.connections}:")
        print(summarise(raw, args.top))
        if args.through:
            print(f"\nstacks through {args.through}:\n{stacks_through(raw, args.through, 10)}")


if __name__ == "__main__":
    main()
