"""`make profile`: where one replica spends its time under load. Starts the bench's fleet and shop, loads one
scenario through the gateway with wrk, samples one replica with py-spy meanwhile, and prints the functions
with the most samples: on top of the stack (self) and anywhere in it (total).

    python -m tests.load.profile [--scenario product] [--seconds 15] [--connections 16] [--top 25]
"""

import argparse
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from tests.load.__main__ import stocked_shop, targets
from tests.load.wrk import require_wrk, run
from tests.support.fleet import running_fleet

# A scenario name -> (its index in the bench's targets, the replica sampled).
SCENARIOS = {
    "product": (0, "product-1"),
    "not-modified": (1, "product-1"),
    "list": (2, "product-1"),
    "me": (3, "auth-1"),
    "orders": (4, "order-1"),
    "order": (5, "order-1"),
    "order-product": (5, "product-1"),
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
    args = parser.parse_args()
    require_wrk()
    index, program = SCENARIOS[args.scenario]
    with tempfile.TemporaryDirectory(prefix="profile-") as state, running_fleet(Path(state)) as fleet:
        scenario = targets(stocked_shop(fleet))[index].scenario
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
