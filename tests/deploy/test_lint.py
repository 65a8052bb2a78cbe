"""yamllint, with the committed .yamllint, over every YAML file of the repository."""

import subprocess
import sys

from tests.deploy.support import REPO_ROOT, git_files


def test_yamllint_passes_on_every_yaml_file():
    files = [path for path in git_files() if path.suffix in {".yml", ".yaml"} or path.name == ".yamllint"]
    assert REPO_ROOT / "docker-compose.yml" in files
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "yamllint",
            "--strict",
            "-c",
            str(REPO_ROOT / ".yamllint"),
            "-f",
            "parsable",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
