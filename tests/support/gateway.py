"""An extra gateway for tests: nginx outside the supervisor, in front of the same replicas."""

import os
import signal
import subprocess
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx

from fleet.nginx import nginx_command
from fleet.waiting import FleetError, answers, wait_until
from tests.support.logs import json_records


class GatewayProcess:
    """An nginx outside the supervisor (tests start extra gateways in front of the same replicas).

    A context manager: started and ready on enter, stopped on exit."""

    def __init__(self, conf: Path, *, url: str, log_file: Path) -> None:
        self.conf = conf
        self.url = url
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, *, timeout: float = 10.0) -> None:
        """Start nginx and wait until its /healthz answers."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            nginx_command(self.conf), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        with httpx.Client(timeout=1.0) as client:

            def ready() -> bool:
                if self._process is not None and self._process.poll() is not None:
                    raise FleetError(f"extra gateway exited at start; see {self.log_file}")
                return answers(client, f"{self.url}/healthz")

            wait_until(ready, timeout=timeout, what=f"the extra gateway at {self.url}")

    def stop(self, *, timeout: float = 10.0) -> None:
        """Graceful stop (QUIT), then KILL of the whole group if it lingers."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def read_log(self) -> str:
        """Everything this gateway wrote (JSON access lines and errors)."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        """This gateway's JSON access lines, parsed."""
        return json_records(self.read_log())

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
