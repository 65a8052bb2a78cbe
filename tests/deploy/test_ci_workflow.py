"""The GitHub workflow lints, type-checks and runs make test against a database service container, and
builds every image the repository has a Dockerfile for."""

from typing import Any

import pytest
import yaml

from tests.deploy.support import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _commands(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_test_job_runs_lint_types_and_make_test_against_a_database(workflow):
    job = workflow["jobs"]["test"]
    commands = _commands(job)
    for command in ("ruff check .", "ruff format --check .", "mypy", "make test"):
        assert command in commands, command
    [database] = job["services"].values()
    assert database["image"].split(":")[0] in {"mysql", "mariadb"}
    assert {"TEST_DB_HOST", "TEST_DB_PORT", "TEST_DB_USER", "TEST_DB_PASS"} <= set(job["env"])
    assert job["env"]["TEST_DB_PASS"] == next(iter(database["env"].values()))


def test_every_dockerfile_is_built(workflow):
    matrix = workflow["jobs"]["images"]["strategy"]["matrix"]["include"]
    built = {entry["dockerfile"] for entry in matrix}
    dockerfiles = {path.relative_to(REPO_ROOT).as_posix() for path in REPO_ROOT.glob("*/Dockerfile")}
    assert built == dockerfiles
    assert 'docker build -f "${{ matrix.dockerfile }}"' in _commands(workflow["jobs"]["images"])
