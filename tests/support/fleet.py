"""The real fleet for tests: two replicas of each service and nginx under supervisord, on free ports,
everything (configs, logs, SQLite files, the signing key) under one state directory.

`running_fleet(state_dir)` starts it on three throwaway MariaDB databases (or on the embedded SQLite files
with `database="sqlite"`, as `make run` does by default) and yields a `RunningFleet`."""

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from fleet.config import FleetConfig, build_config
from fleet.nginx import nginx_binary
from fleet.topology import REPLICAS_PER_SERVICE, SERVICES
from fleet.waiting import FleetError, wait_until
from tests.support import mariadb
from tests.support.fleet_control import Fleet
from tests.support.ports import free_ports

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "fleet-admin-password"
# Only these come from the test runner's environment: nothing the services or the gateway read leaks in.
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def config_on_free_ports(state_dir: Path, *, env: Mapping[str, str], logs_to_files: bool = True) -> FleetConfig:
    """A fleet for tests: every port picked free, everything under `state_dir`."""
    gateway_port, internal_port, *replica_ports = free_ports(2 + len(SERVICES) * REPLICAS_PER_SERVICE)
    return build_config(
        state_dir,
        env=env,
        gateway_port=gateway_port,
        internal_port=internal_port,
        replica_ports=replica_ports,
        logs_to_files=logs_to_files,
    )


class RunningFleet(Fleet):
    """A started fleet plus what tests need to know about it.

    From `Fleet`: gateway_url, internal_url, replica_url(name), pid(program), kill(program, "KILL"),
    wait_restarted(program, old_pid), stop_program/start_program(program), read_log(program),
    log_records(program), extra_gateway(env). Programs: auth-1, auth-2, product-1, product-2, order-1,
    order-2, gateway."""

    admin_email = ADMIN_EMAIL
    admin_password = ADMIN_PASSWORD

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    @property
    def jwt_private_key_file(self) -> Path:
        """The Ed25519 key auth signs with (the fixture's own file, or the dev key auth generated)."""
        configured = self.config.env.get("JWT_PRIVATE_KEY_FILE")
        return Path(configured) if configured else Path(self.config.env["VAR_DIR"]) / "jwt_private_key.pem"

    def jwt_published_key_file(self, which: Literal["next", "previous"]) -> Path:
        """Where auth reads the public key it publishes beside its signing key's (empty: none)."""
        return Path(self.config.env[f"JWT_{which.upper()}_PUBLIC_KEY_FILE"])

    @property
    def database_names(self) -> dict[str, str]:
        """AUTH_DB_NAME, PRODUCTS_DB_NAME, ORDERS_DB_NAME on MariaDB (empty on SQLite)."""
        names = ("AUTH_DB_NAME", "PRODUCTS_DB_NAME", "ORDERS_DB_NAME")
        return {name: self.config.env[name] for name in names if name in self.config.env}


def require_nginx() -> None:
    """Fail (never skip) when nginx is missing: the fleet tests are the point of the suite."""
    try:
        nginx_binary()
    except FleetError as exc:
        pytest.fail(str(exc), pytrace=False)


def write_signing_key(path: Path) -> Path:
    """A fresh Ed25519 private key in PEM, readable only by us."""
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def base_env() -> dict[str, str]:
    """A clean environment for the fleet's programs."""
    return {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}


@contextmanager
def running_fleet(
    state_dir: Path,
    *,
    database: Literal["mariadb", "sqlite"] = "mariadb",
    env: dict[str, str] | None = None,
    service_python: str | None = None,
) -> Iterator[RunningFleet]:
    """A started fleet, stopped (and its throwaway databases dropped) when the block ends.

    Defaults: rate limits off (LOGIN_, REGISTER_, API_ and SEARCH_RATE_LIMIT=0), the catalogue cache off
    (CATALOGUE_CACHE_SECONDS=0: tests read their own writes anonymously, and a drill must reach the
    replicas; an extra gateway has it on, as the template does), the admin ADMIN_EMAIL/ADMIN_PASSWORD,
    on MariaDB a signing key file in `state_dir`; `env` adds to or overrides these. With "sqlite" nothing
    else is set, exactly like `make run`: SQLite files and a dev key generated under `state_dir/var`.
    `service_python` runs the replicas on another interpreter (`make bench`: the deployed packages alone)."""
    require_nginx()
    fleet_env = base_env()
    fleet_env.update(
        APP_ENV="dev",
        LOG_LEVEL="INFO",
        LOGIN_RATE_LIMIT="0",
        API_RATE_LIMIT="0",
        REGISTER_RATE_LIMIT="0",
        SEARCH_RATE_LIMIT="0",
        CATALOGUE_CACHE_SECONDS="0",
        # Verifiers look at auth's key set again every 2 s (300 in production), so a rotation drills in seconds.
        JWKS_REFRESH_SECONDS="2",
        ADMIN_EMAIL=ADMIN_EMAIL,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    with ExitStack() as stack:
        if database == "mariadb":
            fleet_env.update(mariadb.db_env())
            fleet_env["AUTH_DB_NAME"] = stack.enter_context(mariadb.throwaway_database("fleet_auth"))
            fleet_env["PRODUCTS_DB_NAME"] = stack.enter_context(mariadb.throwaway_database("fleet_products"))
            fleet_env["ORDERS_DB_NAME"] = stack.enter_context(mariadb.throwaway_database("fleet_orders"))
            fleet_env["JWT_PRIVATE_KEY_FILE"] = str(write_signing_key(state_dir / "jwt_private_key.pem"))
            # Named once and empty, as a deployment would: a key rotation writes them and restarts auth.
            for which in ("next", "previous"):
                published = state_dir / f"jwt_{which}_public_key.pem"
                published.touch()
                fleet_env[f"JWT_{which.upper()}_PUBLIC_KEY_FILE"] = str(published)
        fleet_env.update(env or {})
        config = config_on_free_ports(state_dir, env=fleet_env)
        if service_python is not None:
            config = replace(config, service_python=service_python)
        running = RunningFleet(config)
        with running:
            yield running


def wait_for_record(
    records: Callable[[], list[dict[str, Any]]], match: Callable[[dict[str, Any]], bool], *, timeout: float = 10.0
) -> dict[str, Any]:
    """The first JSON log record that `match`es, waiting (bounded) for it to be written."""
    found: list[dict[str, Any]] = []

    def written() -> bool:
        found[:] = [record for record in records() if match(record)]
        return bool(found)

    wait_until(written, timeout=timeout, what="a matching log line")
    return found[0]
