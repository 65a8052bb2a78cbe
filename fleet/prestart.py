"""Each service's `prestart` (wait for its database, create it if missing, migrate, seed), once per start,
all three in parallel: they touch different databases."""

import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from fleet.config import REPO_ROOT, FleetConfig
from fleet.topology import SERVICES
from fleet.waiting import FleetError

PRESTART_TIMEOUT_SECONDS = 120.0


def run_prestarts(config: FleetConfig, *, timeout: float = PRESTART_TIMEOUT_SECONDS) -> None:
    """Run every service's prestart; FleetError naming each one that failed (with its output's tail)."""
    started: list[tuple[str, subprocess.Popen[bytes], Path | None, IO[bytes] | None]] = []
    config.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        for service in SERVICES:
            log_path = config.log_file(f"{service.name}-prestart") if config.logs_to_files else None
            log = log_path.open("wb") if log_path else None
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [config.service_python, "-m", service.module, "prestart"],
                cwd=REPO_ROOT,
                env=dict(config.env),
                stdout=log if log else sys.stdout,
                stderr=subprocess.STDOUT,
            )
            started.append((service.module, process, log_path, log))
        deadline = time.monotonic() + timeout
        failures = []
        for module, process, log_path, _ in started:
            try:
                code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = None
            if code != 0:
                outcome = "timed out" if code is None else f"exited {code}"
                failures.append(f"{module} prestart {outcome}{_tail(log_path)}")
        if failures:
            raise FleetError("; ".join(failures))
    finally:
        for _, process, _, output in started:
            if process.poll() is None:
                process.kill()
                process.wait()
            if output is not None:
                output.close()


def _tail(log_path: Path | None, lines: int = 15) -> str:
    if log_path is None or not log_path.exists():
        return ""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    return f" ({log_path}):\n" + "\n".join(tail)
