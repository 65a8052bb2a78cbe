"""`python -m fleet run` (what `make run` calls): the whole fleet in the foreground of this terminal.

Renders the gateway config, runs each service's prestart once, then replaces this process with supervisord,
so Ctrl-C and SIGTERM reach it and it stops every program cleanly."""

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from fleet.config import LOOPBACK, FleetConfig, build_config
from fleet.nginx import render_config
from fleet.ports import busy_ports
from fleet.prestart import run_prestarts
from fleet.supervisor import render_supervisord_conf, supervisord_command
from fleet.topology import REPLICAS_PER_SERVICE, SERVICES
from fleet.waiting import FleetError

DEFAULT_GATEWAY_PORT = 8080
DEFAULT_INTERNAL_LISTEN = f"{LOOPBACK}:8081"
DEFAULT_BASE_PORT = 8100
DEFAULT_STATE_DIR = "var/fleet"
DEFAULT_VAR_DIR = "var"
# Dev-only defaults, printed at start; a real deployment sets its own.
DEV_ADMIN_EMAIL = "admin@example.com"
DEV_ADMIN_PASSWORD = "dev-admin-password"
READY_TIMEOUT_SECONDS = 120


def prepare(config: FleetConfig, *, extra_sections: list[list[str]] | None = None) -> None:
    """Write everything the fleet runs from: the nginx config (checked by nginx) and supervisord.conf."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.log_dir.mkdir(parents=True, exist_ok=True)
    render_config(config.nginx_conf, config.gateway_env())
    config.supervisord_conf.write_text(render_supervisord_conf(config, extra_sections=extra_sections))


def local_config(environ: Mapping[str, str]) -> FleetConfig:
    """The fleet `make run` starts, from the environment (docs/configuration.md lists each variable)."""
    env = dict(environ)
    if env.get("APP_ENV", "dev") == "dev":
        env.setdefault("ADMIN_EMAIL", DEV_ADMIN_EMAIL)
        env.setdefault("ADMIN_PASSWORD", DEV_ADMIN_PASSWORD)
    internal_host, _, internal_port = env.get("INTERNAL_LISTEN", DEFAULT_INTERNAL_LISTEN).rpartition(":")
    if internal_host != LOOPBACK or not internal_port.isdigit():
        raise FleetError(f"INTERNAL_LISTEN must be {LOOPBACK}:<port> for a local fleet")
    base_port = int(env.get("FLEET_BASE_PORT", DEFAULT_BASE_PORT))
    count = len(SERVICES) * REPLICAS_PER_SERVICE
    return build_config(
        Path(env.get("FLEET_STATE_DIR", DEFAULT_STATE_DIR)),
        env=env,
        gateway_port=int(env.get("GATEWAY_PORT", DEFAULT_GATEWAY_PORT)),
        internal_port=int(internal_port),
        replica_ports=[base_port + offset for offset in range(1, count + 1)],
        var_dir=Path(env.get("VAR_DIR", DEFAULT_VAR_DIR)),
        logs_to_files=False,
    )


def _announcer(config: FleetConfig) -> list[str]:
    """A one-shot program that says when the whole fleet is ready (supervisord starts it with the rest)."""
    urls = [f"{replica.url}/readyz" for replica in config.replicas] + [f"{config.gateway_url}/healthz"]
    routed = [f"--routed={config.gateway_url}{service.api_prefix}/openapi.json" for service in SERVICES]
    command = " ".join([config.python, "-m", "fleet", "wait-ready", "--gateway", config.gateway_url, *routed, *urls])
    return [
        "[program:ready]",
        f"command={command}",
        "priority=300",
        "autostart=true",
        "autorestart=false",
        "startsecs=0",
        "startretries=0",
        "exitcodes=0",
        "stdout_logfile=/dev/stdout",
        "stdout_logfile_maxbytes=0",
        "redirect_stderr=true",
    ]


def _banner(config: FleetConfig) -> str:
    env = config.env
    database = (
        f"MySQL at {env['DB_HOST']}:{env.get('DB_PORT', '3306')} "
        f"({env.get('AUTH_DB_NAME', 'authDB')}, {env.get('PRODUCTS_DB_NAME', 'productsDB')}, "
        f"{env.get('ORDERS_DB_NAME', 'ordersDB')})"
        if env.get("DB_HOST")
        else f"SQLite files under {env['VAR_DIR']}"
    )
    admin = env.get("ADMIN_EMAIL", "(none: set ADMIN_EMAIL and ADMIN_PASSWORD)")
    if env.get("ADMIN_PASSWORD") == DEV_ADMIN_PASSWORD:
        admin += f" / {DEV_ADMIN_PASSWORD} (dev default)"
    return "\n".join(
        [
            f"fleet: gateway   {config.gateway_url}  (docs: {config.gateway_url}/api/v0/auth/docs)",
            f"fleet: database  {database}",
            f"fleet: admin     {admin}",
            f"fleet: replicas  {', '.join(f'{r.name}={r.port}' for r in config.replicas)}",
            *(f"fleet: metrics   {r.name:<10} http://{r.address}/metrics" for r in config.replicas),
            f"fleet: metrics   {'gateway':<10} {config.internal_url}/gateway/status  (nginx stub_status)",
            f"fleet: state     {config.state_dir}  (Ctrl-C stops everything)",
        ]
    )


def run(environ: Mapping[str, str]) -> NoReturn:
    """Prepare and migrate, then exec supervisord in the foreground."""
    config = local_config(environ)
    gateway_host = config.gateway_env()["GATEWAY_HOST"]
    wanted = [(gateway_host, config.gateway_port), (LOOPBACK, config.internal_port)]
    wanted += [(LOOPBACK, replica.port) for replica in config.replicas]
    busy = busy_ports(wanted)
    if busy:
        ports = ", ".join(str(port) for _, port in busy)
        raise FleetError(
            f"port(s) {ports} already in use (another fleet running?); "
            "choose others with GATEWAY_PORT, INTERNAL_LISTEN and FLEET_BASE_PORT"
        )
    print(_banner(config), flush=True)
    prepare(config, extra_sections=[_announcer(config)])
    run_prestarts(config)
    print("fleet: migrations done; starting replicas and gateway under supervisord", flush=True)
    sys.stdout.flush()
    os.execve(config.python, supervisord_command(config), dict(config.env))  # noqa: S606 - our own supervisord
