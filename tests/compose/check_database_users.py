"""Least privilege on the real database server compose runs: the replicas' users read and write rows and can
change no schema; each migration's user can, on its own database only (sql-scripts/init-db.sql)."""

import pytest

from tests.compose.project import Compose, env_file_values

SERVICES = {"auth": "authDB", "product": "productsDB", "order": "ordersDB"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_replicas_user_reads_and_writes_rows_but_cannot_change_the_schema(service: str, compose: Compose) -> None:
    password, database = env_file_values()[f"{service.upper()}_DB_PASS"], SERVICES[service]
    user = f"{service}_svc"
    read = compose.sql_as(user, password, f"SELECT COUNT(*) FROM `{database}`.alembic_version")  # noqa: S608
    assert read.returncode == 0, read.stderr
    for statement in (
        f"CREATE TABLE `{database}`.intruder (id INT)",
        f"ALTER TABLE `{database}`.alembic_version ADD COLUMN intruder INT",
        f"DROP TABLE `{database}`.alembic_version",
    ):
        refused = compose.sql_as(user, password, statement)
        assert refused.returncode != 0 and "denied" in refused.stderr.lower(), (statement, refused.stderr)


@pytest.mark.parametrize("service", SERVICES)
def test_the_migrations_user_changes_only_its_own_databases_schema(service: str, compose: Compose) -> None:
    password, database = env_file_values()[f"{service.upper()}_MIGRATE_DB_PASS"], SERVICES[service]
    user = f"{service}_migrate"
    grants = compose.sql_as(user, password, "SHOW GRANTS FOR CURRENT_USER()")
    assert grants.returncode == 0, grants.stderr
    assert "ALTER" in grants.stdout and "DROP" in grants.stdout and f"`{database}`" in grants.stdout
    other = next(name for name in SERVICES.values() if name != database)
    refused = compose.sql_as(user, password, f"SELECT COUNT(*) FROM `{other}`.alembic_version")  # noqa: S608
    assert refused.returncode != 0 and "denied" in refused.stderr.lower(), refused.stderr
