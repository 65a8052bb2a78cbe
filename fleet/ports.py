"""Ports on this machine: which of the ones a fleet is to listen on are taken (for a clear error)."""

import socket
from collections.abc import Iterable


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
