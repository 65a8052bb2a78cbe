"""`python -m fleet run`: the whole fleet in the foreground (what `make run` does).
`python -m fleet wait-ready URL... [--routed URL]...`: wait until each URL, then each routed one, answers 200
(the fleet's own ready announcer).
`python -m fleet gateway CONF PID_FILE`: become the gateway's nginx (how the supervisor starts it)."""

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

import httpx

from fleet.nginx import run_gateway
from fleet.runner import READY_TIMEOUT_SECONDS, run
from fleet.waiting import FleetError, answers, wait_until


def _all_answer(client: httpx.Client, urls: list[str]) -> bool:
    return all(answers(client, url) for url in urls)


def _wait_ready(gateway: str, urls: list[str], routed: list[str], timeout: float) -> None:
    """Announce the fleet once every replica is ready and the gateway routes to each service. In that order:
    asking the gateway before the replicas listen would have it mark them failed for a while."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        for group, what in ((urls, "every replica to be ready"), (routed, "the gateway to route to each service")):
            remaining = max(deadline - time.monotonic(), 0.0)
            wait_until(partial(_all_answer, client, group), timeout=remaining, what=what)
    print(f"fleet: ready at {gateway}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the whole fleet in the foreground (make run)")
    ready = commands.add_parser("wait-ready", help="wait until every URL answers 200")
    ready.add_argument("--gateway", required=True)
    ready.add_argument("--timeout", type=float, default=READY_TIMEOUT_SECONDS)
    ready.add_argument("--routed", action="append", default=[], help="a URL through the gateway, asked last")
    ready.add_argument("urls", nargs="+")
    gateway = commands.add_parser("gateway", help="exec nginx on CONF, first clearing a killed master's workers")
    gateway.add_argument("conf", type=Path)
    gateway.add_argument("pid_file", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            run(os.environ)
        elif args.command == "gateway":
            run_gateway(args.conf, args.pid_file)
        elif args.command == "wait-ready":
            _wait_ready(args.gateway, args.urls, args.routed, args.timeout)
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
