"""The gateway as the fleet runs it: render nginx/nginx.conf.template, check it, and the nginx command line."""

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from fleet.config import REPO_ROOT
from fleet.waiting import FleetError, wait_until

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
