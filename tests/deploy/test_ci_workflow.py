"""The GitHub workflow runs what `make test` runs: lint, type-check and `make pytest` against a database
service container, and `make compose-test`, which builds and runs every image the repository has."""

import re
from typing import Any

import pytest
import yaml

from tests.deploy.support import REPO_ROOT, load_compose

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
    for command in ("ruff check .", "ruff format --check .", "mypy", "make pytest"):
        assert command in commands, command
    [database] = job["services"].values()
    assert database["image"].split(":")[0] in {"mysql", "mariadb"}
    assert {"TEST_DB_HOST", "TEST_DB_PORT", "TEST_DB_USER", "TEST_DB_PASS"} <= set(job["env"])
    assert job["env"]["TEST_DB_PASS"] == next(iter(database["env"].values()))


def test_make_test_is_the_two_jobs(workflow):
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    assert recipe.splitlines()[1:] == ["\t$(PY) -m pytest", "\t$(PY) -m tests.compose"]
    assert "\npytest: bootstrap\n\t$(PY) -m pytest\n" in makefile
    assert "\ncompose-test: bootstrap\n\t$(PY) -m tests.compose\n" in makefile


def test_every_dockerfile_is_built_and_run_by_the_compose_job(workflow):
    assert "make compose-test" in _commands(workflow["jobs"]["compose"])
    builds = [service["build"] for service in load_compose()["services"].values() if "build" in service]
    dockerfiles = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in [*REPO_ROOT.glob("Dockerfile"), *REPO_ROOT.glob("*/Dockerfile")]
    }
    assert {build["dockerfile"] for build in builds} == dockerfiles
    # ... and every target of the services' Dockerfile.
    targets = re.findall(r"^FROM \S+ AS (\S+-service)$", (REPO_ROOT / "Dockerfile").read_text(), re.M)
    assert sorted(build.get("target") for build in builds if build["dockerfile"] == "Dockerfile") == sorted(targets)
