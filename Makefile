# The fleet's commands. `make run` starts everything locally; `make test` runs every test.
# Each target bootstraps first (idempotent: a .venv from the lock, nginx), so a fresh clone just works.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help bootstrap run test pytest compose-test lint lint-deploy bench bench-floor profile fuzz chaos lock clean

help:
	@echo "make run          the whole fleet on http://127.0.0.1:8080 (two replicas per service + nginx)"
	@echo "make test         lint, pytest, then compose-test: every test there is"
	@echo "make pytest       every pytest test (unit, integration on MariaDB, fleet through nginx, a 2 min drill)"
	@echo "make compose-test the fleet as images under docker compose: contract, restrictions, a kill drill"
	@echo "                  (COMPOSE_IMAGES=auto|local|official; starts a Docker engine if none answers)"
	@echo "make lint         ruff check, ruff format --check, mypy"
	@echo "make lint-deploy  the deployment checks (tests/deploy)"
	@echo "make bench        the load benchmarks beside the floor apps, on the deployed packages (tests/load;"
	@echo "                  BENCH_ARGS=\"--only order,flash --seconds 10\" for a quick look)"
	@echo "make bench-floor  the same P1 request on one-route FastAPI apps: the framework's own floor"
	@echo "make profile      py-spy on one replica under wrk (PROFILE_ARGS=\"--scenario list\"; see --help),"
	@echo "                  or on a replica's start (PROFILE_ARGS=\"--startup order\")"
	@echo "make fuzz         schemathesis on the three public documents through the gateway (FUZZ_ARGS=\"--seconds 600\")"
	@echo "make chaos        the availability drill: replicas killed under load, a stalled product service"
	@echo "                  (CHAOS_ARGS=\"--seconds 600 --seed 3\" for a longer or other run)"
	@echo "make lock         regenerate requirements.lock and requirements-dev.lock with uv"
	@echo "make bootstrap    create .venv from the lock and install nginx if missing"
	@echo "make clean        remove caches and the fleet's runtime state (not the local databases)"

bootstrap:
	@bash scripts/bootstrap.sh

run: bootstrap
	$(PY) -m fleet run

test: bootstrap lint
	$(PY) -m pytest
	$(PY) -m tests.compose

pytest: bootstrap
	$(PY) -m pytest

compose-test: bootstrap
	$(PY) -m tests.compose

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

lint-deploy: bootstrap
	$(PY) -m pytest tests/deploy

bench-floor: bootstrap
	@bash scripts/deployed-venv.sh
	$(PY) -m tests.load.floor

bench: bootstrap
	@bash scripts/deployed-venv.sh
	$(PY) -m tests.load $(BENCH_ARGS)

profile: bootstrap
	$(PY) -m tests.load.profile $(PROFILE_ARGS)

fuzz: bootstrap
	$(PY) -m tests.fuzz $(FUZZ_ARGS)

chaos: bootstrap
	$(PY) -m tests.chaos $(CHAOS_ARGS)

# uv is a tool for this target only, installed into the venv on first use.
lock: bootstrap
	@[ -x $(VENV)/bin/uv ] || $(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf var/fleet .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
