"""Which base images the compose test builds on. `official`: the Dockerfiles' and compose file's own defaults
(python slim, nginx-unprivileged, MySQL 8), pulled from the registry. `local`: stand-ins made here from
Debian's packages (tests/compose/images), for a machine no image registry answers: a debootstrap minbase
imported as ecommerce-local/debian:bookworm, and three small images built on it. `auto`: official when the
registry answers, else local."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from fleet.waiting import FleetError
from tests.compose.engine import apt_install
from tests.compose.project import REPO_ROOT, compose_binary, docker

RECIPES = Path(__file__).resolve().parent / "images"
DEBIAN_IMAGE = "ecommerce-local/debian:bookworm"
# Each variable the compose file and Dockerfiles take, with its local stand-in (tests/compose/images/compose.yml).
LOCAL_IMAGES = {
    "PYTHON_IMAGE": "ecommerce-local/python:3.11-slim-bookworm",
    "NGINX_IMAGE": "ecommerce-local/nginx-unprivileged:bookworm",
    "MYSQL_IMAGE": "ecommerce-local/mariadb:10.11",
}
# Pulled to learn whether the registry answers (the service Dockerfiles' default base).
PROBE_IMAGE = "python:3.11.13-slim-bookworm"
# The CA bundle pip trusts inside a build when this machine's own trust store is not the public one.
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def exists(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode == 0


def registry_answers() -> bool:
    if exists(PROBE_IMAGE):
        return True
    try:
        pulled = subprocess.run(
            ["docker", "pull", "--quiet", PROBE_IMAGE], capture_output=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return pulled.returncode == 0


def choose(mode: str, say: Callable[[str], None] = print) -> dict[str, str]:
    """The variables that select the base images (none for `official`), making the local ones if needed."""
    if mode == "auto":
        mode = "official" if registry_answers() else "local"
        say(f"compose-test: {'the registry answers' if mode == 'official' else 'no registry answers'}: {mode} images")
    overrides = {}
    if SYSTEM_CA_BUNDLE.exists() and not os.environ.get("BUILD_CA_FILE"):
        overrides["BUILD_CA_FILE"] = str(SYSTEM_CA_BUNDLE)
    if mode == "official":
        return overrides
    if mode != "local":
        raise FleetError(f"unknown image mode {mode!r}: auto, local or official")
    make_debian_base(say)
    # Rebuilt every time from cache: a changed recipe takes effect, an unchanged one costs seconds.
    result = subprocess.run(
        [*compose_binary(), "--file", str(RECIPES / "compose.yml"), "build", "--quiet"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise FleetError(f"building the local base images failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return {**overrides, **LOCAL_IMAGES}


def make_debian_base(say: Callable[[str], None]) -> None:
    """ecommerce-local/debian:bookworm, from debootstrap's minbase, unless it exists."""
    if exists(DEBIAN_IMAGE):
        return
    if shutil.which("debootstrap") is None:
        apt_install("debootstrap", say=say)
    say(f"compose-test: making {DEBIAN_IMAGE} with debootstrap --variant=minbase")
    with tempfile.TemporaryDirectory(prefix="debootstrap-") as scratch:
        root = Path(scratch) / "rootfs"
        # debootstrap's default mirror: the one Debian names for itself.
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(root)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise FleetError(f"debootstrap failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "-", DEBIAN_IMAGE], stdin=tar.stdout, capture_output=True, text=True, check=False
        )
        if tar.stdout is not None:
            tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise FleetError(f"docker import of the debootstrap tree failed: {imported.stderr.strip()}")
    docker("image", "inspect", DEBIAN_IMAGE)
