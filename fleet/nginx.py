"""The gateway as the fleet runs it: render nginx/nginx.conf.template, check it, and the nginx command line."""

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn, Self

import httpx

from fleet.config import REPO_ROOT
from fleet.logs import json_records
from fleet.waiting import FleetError, answers, wait_until

RENDER_SCRIPT = REPO_ROOT / "nginx" / "render.sh"


def nginx_binary() -> str:
    """nginx's path (it lives in /usr/sbin, which a non-root PATH often lacks)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise FleetError("nginx is not installed: run `make bootstrap` (as root) or `apt-get install nginx`")
    return found


def nginx_command(conf: Path) -> list[str]:
    """nginx in the foreground on `conf`, its early errors on stderr (before the config names error_log).

    Started as root (CI, a root shell), nginx would run its workers as `nobody`, who cannot enter the
    fleet's state directory to write the catalogue cache there; so the workers stay root. The images run
    nginx unprivileged from the start."""
    directives = "daemon off; user root;" if os.geteuid() == 0 else "daemon off;"
    return [nginx_binary(), "-e", "stderr", "-c", str(conf), "-g", directives]


def reap_orphaned_workers(pid_file: Path, *, timeout: float = 5.0) -> int:
    """Stop the workers a killed nginx master left behind; how many there were.

    Workers outlive a SIGKILLed master and keep the listening sockets, so a restarted master could not
    bind. They are still in the dead master's process group, whose id is in the pid file: nginx workers in
    that group are asked to finish (QUIT), and killed if they linger."""
    try:
        master = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return 0
    if _alive(master):
        return 0
    orphans = [pid for pid in _process_group(master) if _command_line(pid).startswith(b"nginx: ")]
    for pid in orphans:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
    try:
        wait_until(lambda: not any(_alive(pid) for pid in orphans), timeout=timeout, what="orphaned nginx workers")
    except FleetError:
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return len(orphans)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _process_group(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid` (from /proc: field 5 of stat, after the command)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def run_gateway(conf: Path, pid_file: Path) -> NoReturn:
    """Become the gateway's nginx (exec, so the supervisor's signals reach it), after clearing the way."""
    reap_orphaned_workers(pid_file)
    command = nginx_command(conf)
    os.execv(command[0], command)  # noqa: S606 - our own nginx command line


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

    def log_records(self) -> list[dict[str, Any]]:
        """This gateway's JSON access lines, parsed."""
        return json_records(self.read_log())

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
