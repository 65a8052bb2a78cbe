"""`make fuzz`: schemathesis against the three public OpenAPI documents through the real gateway (two
replicas each, MariaDB), as an admin, as a user and with no token: every check, stateful links on. Prints
each run's summary line and fails if any run found anything. `make test` runs a short, seeded one
(tests/fuzz/test_fuzz.py).

    python -m tests.fuzz [--seconds 60 | --examples 20] [--seed 1]   (FUZZ_ARGS="--seconds 600": a long run)
"""

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.fleet import running_fleet
from tests.support.users import Account, login, signed_up

SERVICES = ("auth", "products", "orders")
CONFIG = Path(__file__).with_name("schemathesis.toml")


@dataclass(frozen=True)
class Run:
    caller: str
    service: str
    passed: bool
    summary: str
    output: str


def fuzz(*, seconds: int | None = None, examples: int | None = None, seed: int = 1) -> list[Run]:
    """One schemathesis run per document and caller, on a fleet of its own; how each went."""
    limit = ["--max-time", str(seconds)] if seconds else ["--max-examples", str(examples or 20)]
    runs = []
    with tempfile.TemporaryDirectory(prefix="fuzz-") as state, running_fleet(Path(state)) as fleet:
        with httpx.Client(base_url=fleet.gateway_url, timeout=30) as api:
            admin = login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))
            user = signed_up(api)
        for caller, token in {"admin": admin.access_token, "user": user.access_token, "anonymous": None}.items():
            for service in SERVICES:
                command = [sys.prefix + "/bin/st", "--config-file", str(CONFIG), "--no-color", "run"]
                command += [f"{fleet.gateway_url}/api/v0/{service}/openapi.json", "--checks", "all", *limit]
                command += ["--seed", str(seed), "--workers", "1", "--report-dir", str(Path(state) / "reports")]
                if token:
                    command += ["--header", f"Authorization: Bearer {token}"]
                # In the run's own directory: schemathesis keeps a cache where it runs.
                done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800, cwd=state)
                summary = (re.findall(r"=+ (.+?) =+\s*$", done.stdout, re.MULTILINE) or ["no summary"])[-1]
                runs.append(Run(caller, service, done.returncode == 0, summary, done.stdout + done.stderr))
                print(f"{caller:9} {service:8} {summary}", flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    limits = parser.add_mutually_exclusive_group()
    limits.add_argument("--seconds", type=int, help="time per document and caller (default: 60)")
    limits.add_argument("--examples", type=int, help="examples per operation instead of a time budget")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    seconds = args.seconds or (None if args.examples else 60)
    failed = [run for run in fuzz(seconds=seconds, examples=args.examples, seed=args.seed) if not run.passed]
    for run in failed:
        print(f"\n===== {run.caller}, {run.service} =====\n{run.output[-6000:]}")
    if failed:
        sys.exit(f"{len(failed)} of {len(SERVICES) * 3} runs found failures")


if __name__ == "__main__":
    main()
