"""The compose project under test: `docker compose` on docker-compose.yml with .env.dev, and what the engine
says about its containers. Shared by the driver (`python -m tests.compose`) and the tests it runs."""

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fleet.waiting import FleetError, wait_until
from tests.support.logs import json_records

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_FILE = REPO_ROOT / ".env.dev"
GATEWAY_URL = "http://127.0.0.1:8080"
REPLICAS = ("auth-1", "auth-2", "product-1", "product-2", "order-1", "order-2")
MIGRATIONS = ("auth-migrate", "product-migrate", "order-migrate")
# The variables the driver sets for the project and hands on to its checks: which images stood in for the
# registry's (tests/compose/images.py), and the gateway limits the checks' load must not trip over.
DRIVER_VARIABLES = (
    "PYTHON_IMAGE",
    "NGINX_IMAGE",
    "MYSQL_IMAGE",
    "BUILD_CA_FILE",
    "REGISTER_RATE_LIMIT",
    "API_RATE_LIMIT",
)
# One client address sends the drill's whole load and registers every account: those two limits are off.
UNLIMITED = {"REGISTER_RATE_LIMIT": "0", "API_RATE_LIMIT": "0"}


def compose_binary() -> list[str]:
    """`docker compose` (v2), as a CLI plugin or, without a docker CLI, the plugin binary on its own."""
    if shutil.which("docker") is not None:
        probe = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.startswith("2."):
            return ["docker", "compose"]
    for directory in ("/usr/local/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins"):
        plugin = Path(directory) / "docker-compose"
        if plugin.exists():
            return [str(plugin)]
    raise FleetError("docker compose v2 is not installed: `make bootstrap` installs it (scripts/compose-plugin.sh)")


def env_file_values() -> dict[str, str]:
    """.env.dev's KEY=VALUE lines (the file holds no quoting or interpolation)."""
    values = {}
    for line in ENV_FILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class Container:
    """One container as `docker inspect` saw it."""

    service: str
    facts: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.facts["Id"])

    @property
    def state(self) -> dict[str, Any]:
        return dict(self.facts["State"])

    def moment(self, name: str) -> tuple[str, int]:
        """State.StartedAt or FinishedAt, comparable: the engine writes RFC 3339 in UTC with up to nine
        fraction digits and drops trailing zeros, so the strings themselves do not sort."""
        stamp = str(self.state[name]).removesuffix("Z")
        seconds, _, fraction = stamp.partition(".")
        return seconds, int(fraction.ljust(9, "0"))

    @property
    def health(self) -> str:
        return str(self.state.get("Health", {}).get("Status", "none"))

    @property
    def address(self) -> str:
        [network] = self.facts["NetworkSettings"]["Networks"].values()
        return str(network["IPAddress"])

    @property
    def host_config(self) -> dict[str, Any]:
        return dict(self.facts["HostConfig"])


@dataclass
class Compose:
    """The project, driven with the environment the driver chose (images, the build's CA)."""

    overrides: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> "Compose":
        return cls({name: os.environ[name] for name in DRIVER_VARIABLES if os.environ.get(name)})

    @cached_property
    def command(self) -> list[str]:
        return [*compose_binary(), "--file", str(COMPOSE_FILE), "--env-file", str(ENV_FILE)]

    @cached_property
    def project(self) -> str:
        return env_file_values()["COMPOSE_PROJECT_NAME"]

    @property
    def env(self) -> dict[str, str]:
        # COMPOSE_BAKE: build with the engine's own BuildKit; Bake needs the buildx plugin, which Debian lacks.
        return {**os.environ, "COMPOSE_BAKE": "false", **self.overrides}

    def run(self, *args: str, timeout: float = 600, capture: bool = False) -> subprocess.CompletedProcess[str]:
        """`docker compose ARGS`; FleetError with its output if it fails."""
        result = subprocess.run(
            [*self.command, *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=capture,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout or "") + (result.stderr or "")
            raise FleetError(f"docker compose {' '.join(args)} exited {result.returncode}\n{output[-4000:]}")
        return result

    def container(self, service: str) -> Container:
        ids = self.run("ps", "--all", "--quiet", service, capture=True).stdout.split()
        if len(ids) != 1:
            raise FleetError(f"{service}: expected one container, found {len(ids)}")
        return Container(service, inspect(ids[0]))

    def wait_healthy(self, service: str, *, timeout: float = 120) -> Container:
        wait_until(lambda: self.container(service).health == "healthy", timeout=timeout, what=f"{service} healthy")
        return self.container(service)

    def crash(self, service: str) -> Container:
        """SIGKILL the container's PID 1 from the host, as a crash would; the container as it was. (`docker
        kill` would be the operator stopping it, which restart: unless-stopped honours by not restarting.)"""
        before = self.container(service)
        os.kill(int(before.state["Pid"]), signal.SIGKILL)
        return before

    def restarted(self, before: Container) -> Container | None:
        """The container once its restart policy has started it again after `before`, else None."""
        current = self.container(before.service)
        restarts = current.facts["RestartCount"] != before.facts["RestartCount"]
        return current if restarts and current.state["Running"] else None

    def gateway_records(self, *, since: str) -> list[dict[str, Any]]:
        """The gateway's JSON access log lines written since `since` (an RFC 3339 time)."""
        logs = self.run("logs", "--no-color", "--no-log-prefix", "--since", since, "gateway", capture=True).stdout
        return json_records(logs)

    def sql(self, query: str, *, database: str = "") -> list[list[str]]:
        """Rows of `query`, run as root by the database container's own client (the image's, MySQL or MariaDB)."""
        password = env_file_values()["MYSQL_ROOT_PASSWORD"]
        result = self.run(
            "exec", "-T", "mysql", "mysql", "--user=root", f"--password={password}", "--batch", "--skip-column-names",
            *([database] if database else []), "-e", query,
            capture=True,
        )  # fmt: skip
        return [line.split("\t") for line in result.stdout.splitlines()]

    def sql_as(self, user: str, password: str, query: str) -> subprocess.CompletedProcess[str]:
        """`query` run as `user` by the database container's client; the caller reads the exit code."""
        return subprocess.run(
            [
                *self.command, "exec", "-T", "mysql", "mysql", f"--user={user}", f"--password={password}",
                "--batch", "--skip-column-names", "-e", query,
            ],
            cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes of this project that still exist."""
        label = f"label=com.docker.compose.project={self.project}"
        found = {
            "containers": docker("ps", "--all", "--quiet", "--filter", label),
            "networks": docker("network", "ls", "--quiet", "--filter", label),
            "volumes": docker("volume", "ls", "--quiet", "--filter", label),
        }
        return {kind: names.split() for kind, names in found.items() if names.strip()}


def docker(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise FleetError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def inspect(target: str) -> dict[str, Any]:
    [facts] = json.loads(docker("inspect", target))
    return dict(facts)


def run_in(container: Container, argv: Sequence[str], *, timeout: float = 30) -> str:
    """ARGV inside the running container, as its own user; its stdout."""
    return docker("exec", container.id, *argv, timeout=timeout)
