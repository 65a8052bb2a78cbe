#!/usr/bin/env bash
# Make this checkout runnable, idempotently: a .venv with the locked dependencies (reinstalled only when
# requirements-dev.lock changes), plus the system tools the fleet and its tests need (nginx, envsubst,
# wrk, chromium, docker compose v2).
# Installs system packages with apt when running as root; otherwise names what to install and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
lock=requirements-dev.lock
stamp="$venv/.bootstrap-stamp"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "bootstrap: Python 3.11 or newer is required as '$python' (set PYTHON=... to choose another)." >&2
    exit 1
fi

# The stamp records which lock the venv was built from: a changed lock means a reinstall.
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    if [ ! -x "$venv/bin/python" ]; then
        echo "bootstrap: creating $venv"
        "$python" -m venv "$venv"
    fi
    echo "bootstrap: installing $lock into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
    echo "$want" >"$stamp"
fi

# System tools: nginx is the gateway, envsubst (gettext-base) renders its config, wrk generates load
# (make bench), chromium renders the docs pages headless (tests/fleet: they must work with no internet
# access), promtool (Debian's prometheus package; its server is never started) checks the alert rules and
# lints the services' metrics (tests/deploy). The Docker engine is make compose-test's own business (tests/compose/engine.py).
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v envsubst >/dev/null 2>&1 || missing+=(gettext-base)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing system packages, install them first: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "bootstrap: installing ${missing[*]} with apt-get"
    # Keep the package's post-install from starting a system-wide nginx on port 80 (Debian's policy-rc.d
    # hook); the fleet runs its own nginx. Only a hook we created ourselves is removed again.
    policy=/usr/sbin/policy-rc.d
    created_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        created_policy=1
    fi
    trap '[ -z "$created_policy" ] || rm -f "$policy"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# docker compose v2 reads docker-compose.yml (tests/deploy) and runs it (make compose-test).
bash scripts/compose-plugin.sh "$venv/bin/python"
