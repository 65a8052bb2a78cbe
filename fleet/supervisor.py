"""The process supervisor's config for one fleet: supervisord restarts a replica that dies (as Kubernetes
would). Tests talk to it through tests/support/supervisor.py."""

import getpass
import hashlib
import os
import shlex
import tempfile
from pathlib import Path

from fleet.config import REPO_ROOT, FleetConfig
from fleet.topology import GATEWAY, Replica

# AF_UNIX paths are limited to 108 bytes; longer state dirs get their socket in the temp dir.
_MAX_SOCKET_PATH = 100
# Longer than uvicorn's graceful shutdown (20 s), so in-flight requests finish before a KILL.
_STOP_WAIT_SECONDS = 25
_RPC_FACTORY = "supervisor.rpcinterface:make_main_rpcinterface"
# All replicas in one group: supervisord stops a group at a time (about a second each), so one group for
# six replicas makes stopping the fleet six times faster. Their full names are `replicas:auth-1`, ...
REPLICA_GROUP = "replicas"


def full_name(program: str) -> str:
    """The name supervisorctl and XML-RPC know a program by (`replicas:auth-1`, `gateway`)."""
    return program if program == GATEWAY else f"{REPLICA_GROUP}:{program}"


def socket_path(config: FleetConfig) -> Path:
    """The unix socket supervisorctl and `SupervisorClient` talk to."""
    path = config.state_dir / "supervisor.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(config.state_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"fleet-{digest}.sock"


def _quote(value: str) -> str:
    """A value for supervisor's ini file, where `%` starts an expansion."""
    return value.replace("%", "%%")


def _command(argv: list[str]) -> str:
    return _quote(shlex.join(argv))


def _launch(config: FleetConfig, program: str, argv: list[str]) -> str:
    """The command line of a program. Logging to files, the program writes its own file: through supervisord,
    every line would cross a pipe into a Python process that copies it to the same file, a share of a
    core under load. `exec` keeps the pid supervisord sees the
    program's own."""
    if not config.logs_to_files:
        return _command(argv)
    log = shlex.quote(str(config.log_file(program)))
    return _command(["/bin/sh", "-c", f"exec {shlex.join(argv)} >>{log} 2>&1"])


def _output(config: FleetConfig, program: str) -> list[str]:
    """Where a program's stdout and stderr go: its own file, or the terminal `make run` started in."""
    target = str(config.log_file(program)) if config.logs_to_files else "/dev/stdout"
    return [
        f"stdout_logfile={_quote(target)}",
        "stdout_logfile_maxbytes=0",
        "stdout_logfile_backups=0",
        "redirect_stderr=true",
    ]


def _replica_section(config: FleetConfig, replica: Replica) -> list[str]:
    return [
        f"[program:{replica.name}]",
        f"command={_launch(config, replica.name, [config.service_python, '-m', replica.service.module])}",
        f"directory={_quote(str(REPO_ROOT))}",
        f'environment=HOST="{replica.host}",PORT="{replica.port}"',
        "priority=100",
        "autostart=true",
        "autorestart=true",
        "startsecs=1",
        "startretries=5",
        "stopsignal=TERM",
        f"stopwaitsecs={_STOP_WAIT_SECONDS}",
        "stopasgroup=true",
        "killasgroup=true",
        *_output(config, replica.name),
    ]


def _gateway_section(config: FleetConfig) -> list[str]:
    # Through `fleet gateway`, which clears workers a SIGKILLed master left holding the ports, then execs nginx.
    command = [config.python, "-m", "fleet", "gateway", str(config.nginx_conf), str(config.nginx_pid_file)]
    return [
        f"[program:{GATEWAY}]",
        f"command={_launch(config, GATEWAY, command)}",
        f"directory={_quote(str(REPO_ROOT))}",
        "priority=200",
        "autostart=true",
        "autorestart=true",
        "startsecs=1",
        "startretries=5",
        # QUIT: nginx finishes the requests it is serving, then exits.
        "stopsignal=QUIT",
        f"stopwaitsecs={_STOP_WAIT_SECONDS}",
        *_output(config, GATEWAY),
    ]


def render_supervisord_conf(config: FleetConfig, *, extra_sections: list[list[str]] | None = None) -> str:
    """supervisord.conf for this fleet: six replicas and the gateway, all restarted when they die."""
    sock = socket_path(config)
    log = str(config.log_file("supervisord")) if config.logs_to_files else "/dev/null"
    main = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={_quote(log)}",
        "logfile_maxbytes=0",
        "loglevel=info",
        f"pidfile={_quote(str(config.state_dir / 'supervisord.pid'))}",
        f"directory={_quote(str(REPO_ROOT))}",
        f"childlogdir={_quote(str(config.log_dir))}",
    ]
    if os.geteuid() == 0:
        # Naming the user we already are silences supervisord's "running as root" warning; nothing changes.
        main.append(f"user={getpass.getuser()}")
    replicas = ",".join(replica.name for replica in config.replicas)
    sections = [
        main,
        ["[unix_http_server]", f"file={_quote(str(sock))}", "chmod=0700"],
        ["[rpcinterface:supervisor]", f"supervisor.rpcinterface_factory = {_RPC_FACTORY}"],
        ["[supervisorctl]", f"serverurl=unix://{_quote(str(sock))}"],
        *(_replica_section(config, replica) for replica in config.replicas),
        [f"[group:{REPLICA_GROUP}]", f"programs={replicas}", "priority=100"],
        _gateway_section(config),
        *(extra_sections or []),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def supervisord_command(config: FleetConfig) -> list[str]:
    """supervisord in the foreground on this fleet's config."""
    return [config.python, "-m", "supervisor.supervisord", "--nodaemon", "-c", str(config.supervisord_conf)]
