"""A fleet driven from Python, for tests and drills: start it, wait until it serves, poke its replicas,
read their logs, stop it. `python -m fleet run` uses the same pieces but hands the terminal to supervisord."""

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx

from fleet.config import LOOPBACK, FleetConfig
from fleet.nginx import render_config
from fleet.prestart import run_prestarts
from fleet.runner import prepare
from fleet.supervisor import socket_path, supervisord_command
from fleet.topology import GATEWAY
from fleet.waiting import FleetError, answers, wait_until
from tests.support.gateway import GatewayProcess
from tests.support.logs import json_records
from tests.support.ports import free_ports
from tests.support.supervisor import SupervisorClient

START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 60.0
RESTART_TIMEOUT_SECONDS = 60.0

# What an extra gateway does not inherit from the fleet's: it gets the template's defaults unless told.
_GATEWAY_POLICY_VARIABLES = (
    "LOGIN_RATE_LIMIT",
    "LOGIN_RATE_BURST",
    "REGISTER_RATE_LIMIT",
    "REGISTER_RATE_BURST",
    "API_RATE_LIMIT",
    "API_RATE_BURST",
    "SEARCH_RATE_LIMIT",
    "SEARCH_RATE_BURST",
    "TRUSTED_PROXIES",
    "CATALOGUE_CACHE_SECONDS",
)


class Fleet:
    """Two replicas of each service and the gateway under one supervisord, as a context manager.

    `with Fleet(config) as fleet:` prepares, runs the prestarts, starts supervisord and waits until the
    gateway and all six replicas are ready; leaving the block stops everything."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.supervisor = SupervisorClient(socket_path(config))
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._extra_gateways = 0

    @property
    def gateway_url(self) -> str:
        return self.config.gateway_url

    @property
    def internal_url(self) -> str:
        return self.config.internal_url

    def replica_url(self, name: str) -> str:
        """The replica's own address (behind the gateway), e.g. for its /readyz."""
        return self.config.replica(name).url

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Prepare, migrate, start supervisord and wait until everything is ready."""
        if self._process is not None:
            raise FleetError("this fleet is already started")
        prepare(self.config)
        run_prestarts(self.config)
        self._output = self.config.log_file("supervisord-stdout").open("ab")
        self._process = subprocess.Popen(
            supervisord_command(self.config),
            env=dict(self.config.env),
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(timeout=timeout)

    def wait_ready(self, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Until supervisord answers, every replica's /readyz is 200 and both gateway listeners answer."""
        with httpx.Client(timeout=1.0) as client:
            wait_until(self._supervisor_up, timeout=timeout, what="supervisord to start")

            def all_ready() -> bool:
                self._fail_if_any_program_gave_up()
                return (
                    all(answers(client, f"{replica.url}/readyz") for replica in self.config.replicas)
                    and answers(client, f"{self.gateway_url}/healthz")
                    and answers(client, f"{self.internal_url}/", status=404)
                )

            wait_until(all_ready, timeout=timeout, what="the gateway and all replicas to be ready")

    def stop(self, *, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop every program gracefully (supervisord's SIGTERM handling); KILL whatever outlives `timeout`."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill_everything(process)
        if self._output is not None:
            self._output.close()
            self._output = None

    def _kill_everything(self, process: subprocess.Popen[bytes]) -> None:
        pids = []
        for program in self.config.programs:
            try:
                pids.append(self.supervisor.pid(program))
            except Exception:  # noqa: S112 - supervisord is wedged; kill what we know of
                continue
        for pid in pids:
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def _supervisor_up(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise FleetError(f"supervisord exited with {self._process.returncode}; see {self.config.log_dir}")
        return self.supervisor.is_up()

    def _fail_if_any_program_gave_up(self) -> None:
        for program in self.config.programs:
            if self.supervisor.state(program) == "FATAL":
                raise FleetError(f"{program} keeps failing to start:\n{self._tail(program)}")

    def _tail(self, program: str, lines: int = 20) -> str:
        return "\n".join(self.read_log(program).splitlines()[-lines:])

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # --- poking programs (names: auth-1, auth-2, product-1, product-2, order-1, order-2, gateway) -------

    def pid(self, program: str) -> int:
        """The program's current pid (0 while it is down)."""
        return self.supervisor.pid(program)

    def kill(self, program: str, signal_name: str = "KILL") -> int:
        """Send a signal (SIGKILL by default) to the program; returns the pid that got it."""
        pid = self.pid(program)
        if not pid:
            raise FleetError(f"{program} is not running")
        self.supervisor.signal(program, signal_name)
        return pid

    def wait_restarted(self, program: str, old_pid: int, *, timeout: float = RESTART_TIMEOUT_SECONDS) -> int:
        """Until the supervisor has brought `program` back under a new pid and it is ready; the new pid."""
        new_pid = 0

        def restarted() -> bool:
            nonlocal new_pid
            info = self.supervisor.info(program)
            new_pid = int(info["pid"])
            return info["statename"] == "RUNNING" and new_pid not in (0, old_pid)

        wait_until(restarted, timeout=timeout, what=f"the supervisor to restart {program}")
        self.wait_program_ready(program, timeout=timeout)
        return new_pid

    def wait_program_ready(self, program: str, *, timeout: float = RESTART_TIMEOUT_SECONDS) -> None:
        """Until a replica's /readyz (or the gateway's /healthz) answers 200. A ready replica is routed to at
        once: the gateway never skips every entry of a service (nginx/nginx.conf.template, upstreams)."""
        url = f"{self.gateway_url}/healthz" if program == GATEWAY else f"{self.replica_url(program)}/readyz"
        with httpx.Client(timeout=1.0) as client:
            wait_until(lambda: answers(client, url), timeout=timeout, what=f"{program} to be ready")

    def stop_program(self, program: str) -> None:
        """Stop one program and keep it down (the supervisor will not restart it until `start_program`)."""
        self.supervisor.stop(program)

    def start_program(self, program: str, *, timeout: float = RESTART_TIMEOUT_SECONDS) -> None:
        """Start a stopped program and wait until it is ready."""
        self.supervisor.start(program)
        self.wait_program_ready(program, timeout=timeout)

    # --- logs -------------------------------------------------------------------------------------------

    def log_file(self, program: str) -> Path:
        return self.config.log_file(program)

    def read_log(self, program: str) -> str:
        """Everything the program has written so far (`auth-1`, ..., `gateway`, `supervisord`)."""
        path = self.config.log_file(program)
        return path.read_text(errors="replace") if path.exists() else ""

    def log_records(self, program: str) -> list[dict[str, Any]]:
        """The program's JSON log lines, parsed (lines that are not JSON objects are skipped)."""
        return json_records(self.read_log(program))

    # --- more gateways in front of the same replicas ----------------------------------------------------

    def extra_gateway(self, env: Mapping[str, str] | None = None) -> GatewayProcess:
        """Another nginx from the same template in front of the same replicas, on its own free ports.

        It has the template's default rate limits and trusts no proxy unless `env` says otherwise
        (e.g. {"TRUSTED_PROXIES": "127.0.0.1/32"}). Use it as a context manager."""
        self._extra_gateways += 1
        directory = self.config.state_dir / "extra-gateways" / str(self._extra_gateways)
        gateway_port, internal_port = free_ports(2)
        gateway_env = {
            key: value for key, value in self.config.gateway_env().items() if key not in _GATEWAY_POLICY_VARIABLES
        }
        gateway_env.update(
            GATEWAY_PORT=str(gateway_port),
            INTERNAL_LISTEN=f"{LOOPBACK}:{internal_port}",
            NGINX_TEMP_DIR=str(directory / "nginx"),
        )
        gateway_env.update(env or {})
        conf = directory / "nginx.conf"
        render_config(conf, gateway_env)
        return GatewayProcess(conf, url=f"http://{LOOPBACK}:{gateway_port}", log_file=directory / "gateway.log")
