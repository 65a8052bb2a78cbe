"""No secret but a dev value is committed: the real Kubernetes Secret is git-ignored, the template holds
placeholders, compose takes every secret from .env.dev (whose values say they are dev values), the
manifests take every secret from the Secret, and no private key sits anywhere in the repository."""

import base64
import re
import subprocess
from typing import Any

import yaml

from tests.deploy.support import (
    COMPOSE_FILE,
    ENV_DEV,
    REPO_ROOT,
    SECRET_EXAMPLE,
    git_files,
    load_compose,
    load_env_file,
    objects_of,
    rendered_deployment,
)

SECRET_NAME = re.compile(r"(PASS|PASSWORD|TOKEN|SECRET|PRIVATE_KEY)$")
# Assembled, so that this file does not match itself.
PRIVATE_KEY_BLOCK = re.compile("-----BEGIN [A-Z0-9 ]*" + "PRIVATE KEY-----")


def test_the_real_secret_file_is_git_ignored():
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "deployment/ecommerce-secret.yml"], cwd=REPO_ROOT, check=False
    )
    assert result.returncode == 0, "deployment/ecommerce-secret.yml is not ignored by git"


def test_no_secret_file_is_committed():
    names = {path.relative_to(REPO_ROOT).as_posix() for path in git_files()}
    assert "deployment/ecommerce-secret.yml" not in names
    assert ".env" not in names
    for name in names:
        assert not name.endswith((".pem", ".key", ".p12", ".pfx")), name
        assert not re.search(r"(^|/)\.env\.(?!dev$)", name), name


def test_no_private_key_anywhere():
    for path in git_files():
        if path.stat().st_size > 1_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        assert not PRIVATE_KEY_BLOCK.search(text), f"{path.relative_to(REPO_ROOT)} holds a private key"


def test_env_dev_holds_dev_values_only():
    values = load_env_file(ENV_DEV)
    secrets = {name: value for name, value in values.items() if SECRET_NAME.search(name)}
    assert {"MYSQL_ROOT_PASSWORD", "AUTH_DB_PASS", "SERVICE_TOKEN", "ADMIN_PASSWORD"} <= set(secrets)
    for name, value in secrets.items():
        assert "dev" in value, f"{name} in .env.dev does not look like a dev value"
    assert "DEV-ONLY" in ENV_DEV.read_text()


def test_compose_takes_every_secret_from_the_env_file():
    for name, service in load_compose()["services"].items():
        environment: dict[str, Any] = service.get("environment") or {}
        for variable, value in environment.items():
            if SECRET_NAME.search(variable):
                assert re.fullmatch(r"\$\{[A-Z_]+(:[-?][^}]*)?\}", str(value)), f"{name}: {variable} is a literal"
    assert "PRIVATE KEY" not in COMPOSE_FILE.read_text()


def test_manifests_take_every_secret_from_the_secret():
    for manifest in rendered_deployment():
        if manifest["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        for container in manifest["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                if SECRET_NAME.search(variable["name"]):
                    assert "secretKeyRef" in variable.get("valueFrom", {}), (
                        f"{manifest['metadata']['name']}: {variable['name']} is not read from the Secret"
                    )
    for configmap in objects_of(rendered_deployment(), "ConfigMap"):
        for key in configmap["data"]:
            assert not SECRET_NAME.search(key), f"{configmap['metadata']['name']} holds {key}"


def test_the_secret_template_holds_only_placeholders():
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    assert secret["kind"] == "Secret"
    assert "stringData" not in secret
    for key, encoded in secret["data"].items():
        value = base64.b64decode(encoded, validate=True).decode()
        assert "change-me" in value or value.endswith("@example.com"), key


def test_no_other_secret_manifest_is_committed():
    for path in git_files():
        if path.suffix not in {".yml", ".yaml"} or path == SECRET_EXAMPLE:
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict):
                assert document.get("kind") != "Secret", path.relative_to(REPO_ROOT)
