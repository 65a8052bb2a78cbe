"""`make fuzz`: schemathesis against the three public OpenAPI documents through the real gateway (two
replicas each, MariaDB), as an admin, as a user and with no token: every check, stateful links on. Prints
each run's summary line and fails if any run found anything.

    python -m tests.fuzz [--seconds 60] [--seed 1]      (FUZZ_ARGS="--seconds 600" for a long run)
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.support.fleet import running_fleet
from tests.support.users import Account, login, signed_up

SERVICES = ("auth", "products", "orders")
CONFIG = Path(__file__).with_name("schemathesis.toml")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=int, default=60, help="per document and caller")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    failed = []
    with tempfile.TemporaryDirectory(prefix="fuzz-") as state, running_fleet(Path(state)) as fleet:
        with httpx.Client(base_url=fleet.gateway_url, timeout=30) as api:
            admin = login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))
            user = signed_up(api)
        callers = {"admin": admin.access_token, "user": user.access_token, "anonymous": None}
        for caller, token in callers.items():
            for service in SERVICES:
                command = [sys.prefix + "/bin/st", "--config-file", str(CONFIG), "--no-color", "run"]
                command += [f"{fleet.gateway_url}/api/v0/{service}/openapi.json", "--checks", "all"]
                command += ["--max-time", str(args.seconds), "--seed", str(args.seed), "--workers", "1"]
                command += ["--report-dir", str(Path(state) / "reports" / f"{caller}-{service}")]
                if token:
                    command += ["--header", f"Authorization: Bearer {token}"]
                run = subprocess.run(command, capture_output=True, text=True, check=False)
                summary = (re.findall(r"=+ (.+?) =+\s*$", run.stdout) or ["no summary"])[-1]
                print(f"{caller:9} {service:8} {summary}", flush=True)
                if run.returncode != 0:
                    failed.append((caller, service, run.stdout))
    for caller, service, output in failed:
        print(f"\n===== {caller}, {service} =====\n{output[-6000:]}")
    if failed:
        sys.exit(f"{len(failed)} of {len(callers) * len(SERVICES)} runs found failures")


if __name__ == "__main__":
    main()
