"""Least privilege for the databases and the service credential: the replicas' database users can read and
write rows and nothing else; only each service's migration Job runs as the user that may change the schema;
only the services that serve or call /internal/ hold SERVICE_TOKEN. Checked on sql-scripts/init-db.sql and on
the Kubernetes manifests (the compose file: tests/deploy/test_compose.py; the real server: make compose-test)."""

import re
from typing import Any

import pytest

from tests.deploy.support import APPS, REPO_ROOT, named, rendered_deployment

INIT_DB = REPO_ROOT / "sql-scripts" / "init-db.sql"
ROWS_ONLY = {"SELECT", "INSERT", "UPDATE", "DELETE"}
SCHEMA = {"CREATE", "ALTER", "INDEX", "DROP", "REFERENCES"}


def grants() -> dict[str, tuple[set[str], str]]:
    """user -> (its privileges, the database they are on), from every GRANT in init-db.sql."""
    text = re.sub(r"--[^\n]*", "", INIT_DB.read_text())
    found: dict[str, tuple[set[str], str]] = {}
    for privileges, database, user in re.findall(r"GRANT\s+(.+?)\s+ON\s+`(\w+)`\.\*\s+TO\s+'(\w+)'@'%'", text, re.S):
        assert user not in found, f"{user} is granted twice"
        found[user] = ({p.strip() for p in privileges.replace("\n", " ").split(",")}, database)
    return found


@pytest.fixture(scope="module")
def manifests() -> tuple[dict[str, Any], ...]:
    return rendered_deployment()


def env_source(container: dict[str, Any], name: str) -> str:
    [variable] = [variable for variable in container["env"] if variable["name"] == name]
    reference = variable["valueFrom"]
    return (reference.get("configMapKeyRef") or reference["secretKeyRef"])["key"]


@pytest.mark.parametrize("module", APPS)
def test_the_replicas_user_reads_and_writes_rows_and_only_the_migrations_user_changes_the_schema(module):
    service = module.removesuffix("_service")
    users = grants()
    runtime, runtime_db = users[f"{service}_svc"]
    migrate, migrate_db = users[f"{service}_migrate"]
    assert runtime == ROWS_ONLY
    assert migrate >= SCHEMA and "ALL" not in migrate and "GRANT OPTION" not in migrate
    assert runtime_db == migrate_db


def test_no_user_reaches_past_its_own_database():
    assert "ON *.*" not in INIT_DB.read_text() and "WITH GRANT OPTION" not in INIT_DB.read_text()
    assert {database for _, database in grants().values()} == {"authDB", "productsDB", "ordersDB"}


@pytest.mark.parametrize("module", APPS)
def test_kubernetes_runs_requests_and_migrations_as_their_own_users(module, manifests):
    service, app = module.removesuffix("_service").upper(), APPS[module]
    config = named(manifests, "ConfigMap", "ecommerce-config")["data"]
    deployment = named(manifests, "Deployment", app)["spec"]["template"]["spec"]["containers"][0]
    job = named(manifests, "Job", f"{app}-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert (env_source(deployment, "DB_USER"), env_source(deployment, "DB_PASS")) == (
        f"{service}_DB_USER",
        f"{service}_DB_PASS",
    )
    assert (env_source(job, "DB_USER"), env_source(job, "DB_PASS")) == (
        f"{service}_MIGRATE_DB_USER",
        f"{service}_MIGRATE_DB_PASS",
    )
    assert config[f"{service}_DB_USER"].endswith("_svc") and config[f"{service}_MIGRATE_DB_USER"].endswith("_migrate")


@pytest.mark.parametrize("module", APPS)
def test_only_the_services_that_use_internal_endpoints_hold_the_service_credential(module, manifests):
    app = APPS[module]
    for kind, name in (("Deployment", app), ("Job", f"{app}-migrate")):
        container = named(manifests, kind, name)["spec"]["template"]["spec"]["containers"][0]
        given = any(variable["name"] == "SERVICE_TOKEN" for variable in container["env"])
        assert given == (module != "auth_service"), (kind, name)
