"""Ports on this machine: free ones for tests, and a clear error when a chosen one is taken."""

import socket
from collections.abc import Iterable
from contextlib import ExitStack


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that were free a moment ago (all held open together, so none repeats)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def busy_ports(ports: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """The (host, port) pairs that cannot be bound right now."""
    busy = []
    for host, port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host or "0.0.0.0", port))  # noqa: S104 - probing, as nginx will bind it
            except OSError:
                busy.append((host, port))
    return busy
