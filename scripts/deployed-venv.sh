#!/usr/bin/env bash
# A venv of requirements.lock alone, the packages the images install: `make bench` runs the replicas on it,
# so the memory it reports is what deploys. (The dev venv also holds pytest's and schemathesis' packages;
# structlog and httpx import rich and pygments when they find them, 5 MiB more per replica.)
# Rebuilt only when requirements.lock changes.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-deployed
lock=requirements.lock
stamp="$venv/.bootstrap-stamp"
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
    echo "deployed-venv: installing $lock into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
    echo "$want" >"$stamp"
fi
