"""`make compose-test` (python -m tests.compose): the fleet as users run it with docker compose, for real.

Phases, each timed: an engine (the one that answers, else Debian's docker.io started here), the base images
(tests/compose/images.py: the registry's, or stand-ins made from Debian packages), `docker compose build`,
`up --wait`, the tests against the compose gateway on :8080 (tests/compose/check_*.py: the contract's smoke
tests, the restrictions and the Kubernetes manifests' link to what the images honoured, a graceful stop,
replicas killed under load), then `down -v`, which must leave no container, network or volume behind.

    python -m tests.compose [--images auto|local|official] [--keep-up] [-- PYTEST_ARGS...]
"""

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from fleet.waiting import FleetError
from tests.compose import engine, images
from tests.compose.project import REPO_ROOT, UNLIMITED, Compose

STATE_DIR = REPO_ROOT / "var" / "compose"
CHECKS = sorted(str(path.relative_to(REPO_ROOT)) for path in Path(__file__).parent.glob("check_*.py"))
UP_TIMEOUT_SECONDS = 300


class Phases:
    """Each phase's wall time, printed as a table at the end whatever happened."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.seconds: list[tuple[str, float, str]] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.say(f"compose-test: {name} ...")
        began = time.monotonic()
        outcome = "failed"
        try:
            yield
            outcome = "ok"
        finally:
            self.seconds.append((name, time.monotonic() - began, outcome))
            self.say(f"compose-test: {name}: {outcome} in {time.monotonic() - began:.1f} s")

    def report(self) -> str:
        lines = [f"{'phase':<12} {'seconds':>8}  outcome"]
        lines += [f"{name:<12} {seconds:>8.1f}  {outcome}" for name, seconds, outcome in self.seconds]
        lines.append(f"{'total':<12} {sum(seconds for _, seconds, _ in self.seconds):>8.1f}")
        return "\n".join(lines)


def run(mode: str, keep_up: bool, pytest_args: list[str], say: Callable[[str], None] = print) -> int:
    phases = Phases(say)
    status = 1
    try:
        # The engine stays up for every later phase, and is stopped last if this run started it.
        with ExitStack() as engine_up:
            with phases.phase("engine"):
                engine_up.enter_context(engine.running_engine(STATE_DIR, say))
            status = _with_engine(phases, mode, keep_up, pytest_args, say)
    except FleetError as exc:
        say(f"compose-test: FAILED: {exc}")
    say(phases.report())
    say(f"compose-test: {'PASSED' if status == 0 else 'FAILED'}")
    return status


def _with_engine(phases: Phases, mode: str, keep_up: bool, pytest_args: list[str], say: Callable[[str], None]) -> int:
    with phases.phase("base images"):
        compose = Compose({**images.choose(mode, say), **UNLIMITED})
    # A run that was interrupted may have left the project up: start from nothing.
    compose.run("down", "--volumes", "--remove-orphans", capture=True)
    status = 1
    try:
        with phases.phase("build"):
            compose.run("build", "--quiet")
        with phases.phase("up"):
            compose.run("up", "--wait", "--wait-timeout", str(UP_TIMEOUT_SECONDS), "--quiet-pull", capture=True)
        with phases.phase("tests"):
            status = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *CHECKS, *pytest_args],
                cwd=REPO_ROOT,
                env=compose.env,
                check=False,
            ).returncode
            if status != 0:
                raise FleetError(f"the compose checks failed (pytest exited {status})")
    except FleetError:
        _show_logs(compose, say)
        raise
    finally:
        if not keep_up:
            with phases.phase("down"):
                compose.run("down", "--volumes", "--remove-orphans", "--timeout", "30", capture=True)
                left = compose.leftovers()
                if left:
                    raise FleetError(f"down -v left {left}")
    return status


def _show_logs(compose: Compose, say: Callable[[str], None]) -> None:
    try:
        logs = compose.run("logs", "--no-color", "--tail", "15", capture=True).stdout
    except FleetError as exc:
        logs = str(exc)
    say(f"compose-test: the containers' last log lines:\n{logs}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.compose", description=__doc__)
    parser.add_argument(
        "--images",
        choices=("auto", "local", "official"),
        default=os.environ.get("COMPOSE_IMAGES", "auto"),
        help="which base images to build on (COMPOSE_IMAGES; auto: the registry's if it answers)",
    )
    parser.add_argument("--keep-up", action="store_true", help="leave the project running afterwards")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    args = parser.parse_args()
    return run(args.images, args.keep_up, args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
