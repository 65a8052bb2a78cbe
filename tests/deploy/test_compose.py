"""docker-compose.yml with .env.dev: docker compose accepts it, and its structure is the fleet's (MySQL
initialised by sql-scripts/, a migration per service that must succeed before that service's two replicas
start, healthchecks everywhere, the gateway on localhost:8080 in front of the six replicas)."""

import subprocess
from typing import Any

import pytest
import yaml

from fleet.waiting import FleetError
from tests.compose.project import compose_binary
from tests.deploy.support import (
    APPS,
    COMPOSE_FILE,
    ENV_DEV,
    MODULES,
    REPO_ROOT,
    SERVICE_PORT,
    interpolate,
    load_compose,
    load_env_file,
)

NAMES = [module.removesuffix("_service") for module in MODULES]
REPLICAS = [f"{name}-{index}" for name in NAMES for index in (1, 2)]


def compose_command() -> list[str]:
    """docker compose v2 (bootstrap installs it); fails the test, never skips, if it is missing."""
    try:
        return compose_binary()
    except FleetError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    loaded: dict[str, Any] = load_compose()["services"]
    return loaded


def test_docker_compose_accepts_the_file_with_env_dev():
    result = subprocess.run(
        [*compose_command(), "--env-file", str(ENV_DEV), "-f", str(COMPOSE_FILE), "config"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "is not set" not in result.stderr, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    assert set(resolved) == {"mysql", "gateway", *REPLICAS, *(f"{name}-migrate" for name in NAMES)}
    assert resolved["auth-1"]["environment"]["DB_PASS"] == load_env_file(ENV_DEV)["AUTH_DB_PASS"]


def test_every_variable_the_file_needs_is_in_env_dev():
    dev = load_env_file(ENV_DEV)
    # Raises on any ${NAME:?...} that .env.dev leaves unset.
    interpolate(COMPOSE_FILE.read_text(), dev)


class TestMySQL:
    def test_mysql_8_runs_the_init_scripts_on_first_start(self, services):
        mysql = services["mysql"]
        # By default: a machine no registry answers sets MYSQL_IMAGE to a stand-in (tests/compose/images).
        assert interpolate(mysql["image"], {}).startswith("mysql:8.")
        mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in mysql["volumes"]}
        assert mounts["/docker-entrypoint-initdb.d/init-db.sql"] == "./sql-scripts/init-db.sql"
        assert mounts["/docker-entrypoint-initdb.d/service-passwords.sh"] == "./sql-scripts/service-passwords.sh"
        assert "/var/lib/mysql" in mounts
        assert "mysqladmin ping" in " ".join(mysql["healthcheck"]["test"])

    def test_mysql_gets_every_service_password(self, services):
        environment = services["mysql"]["environment"]
        for name in NAMES:
            assert f"{name.upper()}_DB_PASS" in environment


@pytest.mark.parametrize("module", MODULES)
class TestServices:
    def test_a_one_shot_migration_builds_the_image_and_runs_prestart(self, services, module):
        name = module.removesuffix("_service")
        migrate = services[f"{name}-migrate"]
        assert migrate["image"] == f"ecommerce/{APPS[module]}:latest"
        assert migrate["build"] == {
            "context": ".",
            "dockerfile": "Dockerfile",
            "target": APPS[module],
            # The base image may be swapped (PYTHON_IMAGE), and a proxy's CA handed to pip as a build secret.
            "args": ["PYTHON_IMAGE"],
            "secrets": ["build_ca"],
        }
        assert migrate["command"] == ["python", "-m", module, "prestart"]
        assert migrate["restart"] == "no"
        assert migrate["depends_on"] == {"mysql": {"condition": "service_healthy"}}

    def test_two_replicas_start_only_after_the_migration_succeeded(self, services, module):
        name = module.removesuffix("_service")
        migrate = services[f"{name}-migrate"]
        replicas = [services[f"{name}-{index}"] for index in (1, 2)]
        own = {other for other in services if other.startswith(f"{name}-")}
        assert own == {f"{name}-migrate", f"{name}-1", f"{name}-2"}
        for replica in replicas:
            assert replica["image"] == migrate["image"]
            assert replica["depends_on"] == {
                "mysql": {"condition": "service_healthy"},
                f"{name}-migrate": {"condition": "service_completed_successfully"},
            }
            assert "/healthz" in " ".join(replica["healthcheck"]["test"])
            assert replica["read_only"] is True
            assert replica["networks"]["default"]["aliases"] == [APPS[module]]
            # The same database and settings as the migration that prepared its schema, but not its user:
            # the replicas' user may not change the schema (sql-scripts/init-db.sql).
            assert replica["environment"]["DB_USER"] == f"{name}_svc"
            assert migrate["environment"]["DB_USER"] == f"{name}_migrate"
            assert replica["environment"]["DB_PASS"] != migrate["environment"]["DB_PASS"]
            shared = set(replica["environment"]) - {"DB_USER", "DB_PASS"}
            assert {key: migrate["environment"][key] for key in shared} == {
                key: replica["environment"][key] for key in shared
            }
            # Only the services that serve or call /internal/ hold the service credential.
            assert ("SERVICE_TOKEN" in replica["environment"]) == (name != "auth")


class TestGateway:
    def test_on_localhost_8080(self, services):
        gateway = services["gateway"]
        assert gateway["ports"] == ["127.0.0.1:8080:8080"]
        assert gateway["build"] == {"context": ".", "dockerfile": "nginx/Dockerfile", "args": ["NGINX_IMAGE"]}
        assert gateway["read_only"] is True
        assert "/healthz" in " ".join(gateway["healthcheck"]["test"])

    def test_starts_once_every_replica_is_healthy(self, services):
        assert services["gateway"]["depends_on"] == {replica: {"condition": "service_healthy"} for replica in REPLICAS}

    def test_upstreams_are_the_replicas(self, services):
        environment = services["gateway"]["environment"]
        for name in NAMES:
            upstreams = {environment[f"{name.upper()}_UPSTREAM_{index}"] for index in (1, 2)}
            assert upstreams == {f"{name}-1:{SERVICE_PORT}", f"{name}-2:{SERVICE_PORT}"}


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if name.endswith("-migrate"):
            continue
        assert service.get("healthcheck", {}).get("test"), name
        assert not service["healthcheck"].get("disable"), name


def test_only_the_gateway_publishes_a_port(services):
    assert [name for name, service in services.items() if service.get("ports")] == ["gateway"]
