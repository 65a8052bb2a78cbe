"""The gateway as the fleet runs it: render nginx/nginx.conf.template, check it, and the nginx command line."""

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

from fleet.config import REPO_ROOT
from fleet.waiting import FleetError, answers, wait_until

RENDER_SCRIPT = REPO_ROOT / "nginx" / "render.sh"


def nginx_binary() -> str:
    """nginx's path (it lives in /usr/sbin, which a non-root PATH often lacks)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise FleetError("nginx is not installed: run `make bootstrap` (as root) or `apt-get install nginx`")
    return found


def nginx_command(conf: Path) -> list[str]:
    """nginx in the foreground on `conf`, its early errors on stderr (before the config names error_log)."""
    return [nginx_binary(), "-e", "stderr", "-c", str(conf), "-g", "daemon off;"]


def render_config(out: Path, env: Mapping[str, str]) -> None:
    """Render the template into `out` with `env`, then have nginx check it; FleetError on any complaint."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rendered = subprocess.run(  # noqa: S603 - our own script
        ["/bin/sh", str(RENDER_SCRIPT), str(out)], env=dict(env), capture_output=True, text=True, check=False
    )
    if rendered.returncode != 0:
        raise FleetError(f"rendering the nginx config failed: {rendered.stderr.strip()}")
    checked = subprocess.run(  # noqa: S603 - nginx's own config test
        [nginx_binary(), "-e", "stderr", "-t", "-q", "-c", str(out)], capture_output=True, text=True, check=False
    )
    if checked.returncode != 0:
        raise FleetError(f"nginx rejects the rendered config {out}: {checked.stderr.strip()}")


class GatewayProcess:
    """An nginx outside the supervisor (tests start extra gateways in front of the same replicas).

    A context manager: started and ready on enter, stopped on exit."""

    def __init__(self, conf: Path, *, url: str, log_file: Path) -> None:
        self.conf = conf
        self.url = url
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, *, timeout: float = 10.0) -> None:
        """Start nginx and wait until its /healthz answers."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - our own nginx command line
            nginx_command(self.conf), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        with httpx.Client(timeout=1.0) as client:

            def ready() -> bool:
                if self._process is not None and self._process.poll() is not None:
                    raise FleetError(f"extra gateway exited at start; see {self.log_file}")
                return answers(client, f"{self.url}/healthz")

            wait_until(ready, timeout=timeout, what=f"the extra gateway at {self.url}")

    def stop(self, *, timeout: float = 10.0) -> None:
        """Graceful stop (QUIT), then KILL of the whole group if it lingers."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def read_log(self) -> str:
        """Everything this gateway wrote (JSON access lines and errors)."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
