"""`python -m fleet run`: the whole fleet in the foreground (what `make run` does).
`python -m fleet wait-ready URL...`: wait until each URL answers 200 (the fleet's own ready announcer)."""

import argparse
import os
import sys

import httpx

from fleet.runner import READY_TIMEOUT_SECONDS, run
from fleet.waiting import FleetError, answers, wait_until


def _wait_ready(gateway: str, urls: list[str], timeout: float) -> None:
    with httpx.Client(timeout=1.0) as client:
        wait_until(lambda: all(answers(client, url) for url in urls), timeout=timeout, what="the fleet to be ready")
    print(f"fleet: ready at {gateway}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the whole fleet in the foreground (make run)")
    ready = commands.add_parser("wait-ready", help="wait until every URL answers 200")
    ready.add_argument("--gateway", required=True)
    ready.add_argument("--timeout", type=float, default=READY_TIMEOUT_SECONDS)
    ready.add_argument("urls", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            run(os.environ)
        _wait_ready(args.gateway, args.urls, args.timeout)
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
