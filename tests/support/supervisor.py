"""A client for supervisord's XML-RPC socket: how tests ask it for a pid, send a signal, or stop and start a
program, exactly as `supervisorctl` does."""

import xmlrpc.client
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from fleet.supervisor import full_name


class SupervisorClient:
    """supervisorctl's requests, from Python: one short XML-RPC call over the unix socket per method.
    Programs are named as in the fleet (`auth-1`, ..., `gateway`)."""

    def __init__(self, sock: Path) -> None:
        self.socket = sock

    def _rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://localhost", transport=transport).supervisor

    def is_up(self) -> bool:
        """Whether supervisord answers and has started all its programs' autostart."""
        try:
            return cast(str, self._rpc().getState()["statename"]) == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def info(self, program: str) -> dict[str, Any]:
        """supervisord's view of one program: `statename`, `pid`, `exitstatus`, ..."""
        return cast(dict[str, Any], self._rpc().getProcessInfo(full_name(program)))

    def pid(self, program: str) -> int:
        """The program's current pid (0 while it is not running)."""
        return int(self.info(program)["pid"])

    def state(self, program: str) -> str:
        """RUNNING, STARTING, BACKOFF, STOPPED, EXITED, FATAL, ..."""
        return cast(str, self.info(program)["statename"])

    def signal(self, program: str, signal_name: str) -> None:
        """Send e.g. "KILL" or "STOP" to the program, as `supervisorctl signal` does."""
        self._rpc().signalProcess(full_name(program), signal_name)

    def stop(self, program: str) -> None:
        """Stop the program and wait until it has exited; it stays down until `start`."""
        self._rpc().stopProcess(full_name(program), True)

    def start(self, program: str) -> None:
        """Start a stopped program and wait until supervisord counts it as running."""
        self._rpc().startProcess(full_name(program), True)

    def shutdown(self) -> None:
        """Stop every program, then supervisord itself."""
        self._rpc().shutdown()
