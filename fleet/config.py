"""One fleet's configuration: its state directory, its ports, and the environment of its programs."""

import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fleet.topology import GATEWAY, REPLICAS_PER_SERVICE, SERVICES, Replica

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class FleetConfig:
    """Everything one fleet needs; every file it writes lives under `state_dir`."""

    state_dir: Path
    # The environment every program starts with (services and gateway); HOST/PORT are set per replica.
    env: Mapping[str, str]
    gateway_port: int
    internal_port: int
    replicas: tuple[Replica, ...]
    # True for tests (one log file per program); False for `make run` (everything to the terminal).
    logs_to_files: bool = True
    python: str = field(default=sys.executable)
    # The interpreter the replicas run on: `make bench` gives them a venv of requirements.lock alone, the
    # packages the images hold, so their memory is what deploys.
    service_python: str = field(default=sys.executable)

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.gateway_port}"

    @property
    def internal_url(self) -> str:
        return f"http://{LOOPBACK}:{self.internal_port}"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def log_file(self, program: str) -> Path:
        """Where a program's output goes when `logs_to_files` (`auth-1`, ..., `gateway`, `supervisord`)."""
        return self.log_dir / f"{program}.log"

    @property
    def nginx_conf(self) -> Path:
        return self.state_dir / "nginx.conf"

    @property
    def nginx_temp_dir(self) -> Path:
        return self.state_dir / "nginx"

    @property
    def nginx_pid_file(self) -> Path:
        """Where the template's `pid` directive puts the master's pid."""
        return self.nginx_temp_dir / "nginx.pid"

    @property
    def supervisord_conf(self) -> Path:
        return self.state_dir / "supervisord.conf"

    @property
    def programs(self) -> list[str]:
        return [replica.name for replica in self.replicas] + [GATEWAY]

    def replica(self, name: str) -> Replica:
        """The replica the supervisor calls `name` (e.g. `auth-1`)."""
        for replica in self.replicas:
            if replica.name == name:
                return replica
        raise KeyError(f"no replica named {name!r}; there are {[r.name for r in self.replicas]}")

    def gateway_env(self) -> dict[str, str]:
        """What nginx/render.sh reads: the programs' environment plus this fleet's addresses."""
        env = dict(self.env)
        # A fleet on one machine is for this machine: loopback unless GATEWAY_HOST says otherwise.
        env.setdefault("GATEWAY_HOST", LOOPBACK)
        env["GATEWAY_PORT"] = str(self.gateway_port)
        env["INTERNAL_LISTEN"] = f"{LOOPBACK}:{self.internal_port}"
        env["NGINX_TEMP_DIR"] = str(self.nginx_temp_dir)
        for service in SERVICES:
            replicas = [replica for replica in self.replicas if replica.service == service]
            for variable, replica in zip(service.upstream_variables, replicas, strict=True):
                env[variable] = replica.address
        return env


def program_env(base: Mapping[str, str], *, var_dir: Path, internal_url: str) -> dict[str, str]:
    """The environment every replica starts with: `base` plus what the fleet's topology decides.

    Product and order reach auth's JWKS and product's /internal/ endpoints through the gateway's loopback
    listener, the stand-in for the cluster's Services. One SERVICE_TOKEN is shared by all replicas
    (random per fleet unless given)."""
    env = dict(base)
    env.setdefault("APP_ENV", "dev")
    env.setdefault("SERVICE_TOKEN", secrets.token_urlsafe(32))
    env["VAR_DIR"] = str(var_dir)
    env["AUTH_SERVICE_URL"] = internal_url
    env["PRODUCT_SERVICE_URL"] = internal_url
    # Log lines reach the supervisor (and tests reading log files) as they are written.
    env["PYTHONUNBUFFERED"] = "1"
    for per_replica in ("HOST", "PORT"):
        env.pop(per_replica, None)
    return env


def build_config(
    state_dir: Path,
    *,
    env: Mapping[str, str],
    gateway_port: int,
    internal_port: int,
    replica_ports: list[int],
    var_dir: Path | None = None,
    logs_to_files: bool = True,
) -> FleetConfig:
    """A fleet whose replicas listen on `replica_ports` (auth-1, auth-2, product-1, ... in that order).

    `var_dir` (SQLite files, the dev signing key) defaults to `state_dir/var`."""
    state_dir = state_dir.resolve()
    internal_url = f"http://{LOOPBACK}:{internal_port}"
    expected = len(SERVICES) * REPLICAS_PER_SERVICE
    if len(replica_ports) != expected:
        raise ValueError(f"need {expected} replica ports, got {len(replica_ports)}")
    ports = iter(replica_ports)
    replicas = tuple(
        Replica(service, index, LOOPBACK, next(ports))
        for service in SERVICES
        for index in range(1, REPLICAS_PER_SERVICE + 1)
    )
    return FleetConfig(
        state_dir=state_dir,
        env=program_env(env, var_dir=(var_dir or state_dir / "var").resolve(), internal_url=internal_url),
        gateway_port=gateway_port,
        internal_port=internal_port,
        replicas=replicas,
        logs_to_files=logs_to_files,
    )
