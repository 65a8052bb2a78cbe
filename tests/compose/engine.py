"""A Docker engine for the compose test: the one that answers, or Debian's docker.io started here (as root) and
stopped again when the test ends. Compose v2 itself is bootstrap's (scripts/compose-plugin.sh)."""

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fleet.waiting import FleetError, wait_until

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


def answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0


def apt_install(*packages: str, say: Callable[[str], None]) -> None:
    if os.geteuid() != 0:
        raise FleetError(f"{' '.join(packages)} missing: install them (apt-get install {' '.join(packages)})")
    say(f"compose-test: installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise FleetError(f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


@contextmanager
def running_engine(state_dir: Path, say: Callable[[str], None] = print) -> Iterator[None]:
    """An engine that answers `docker info` for the block's length."""
    if answers():
        yield
        return
    if shutil.which("dockerd") is None:
        apt_install("docker.io", say=say)
    state_dir.mkdir(parents=True, exist_ok=True)
    log = (state_dir / "dockerd.log").open("ab")
    # Its own session, so that Ctrl-C on the test reaches the test, which then stops the engine in order.
    daemon = subprocess.Popen(
        ["dockerd", "--storage-driver", "overlay2"], stdout=log, stderr=log, start_new_session=True
    )
    say(f"compose-test: started dockerd (pid {daemon.pid}, log {state_dir / 'dockerd.log'})")
    try:
        wait_until(
            lambda: answers() or daemon.poll() is not None, timeout=START_TIMEOUT_SECONDS, what="dockerd to answer"
        )
        if daemon.poll() is not None:
            raise FleetError(f"dockerd exited {daemon.returncode}: see {state_dir / 'dockerd.log'}")
        yield
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=STOP_TIMEOUT_SECONDS)
        log.close()
