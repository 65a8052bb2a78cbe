"""Ports on this machine: free ones for tests, and a clear error when a chosen one is taken."""

import random
import socket
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

# Listening ports are picked below the kernel's ephemeral range: a port from that range can be taken at
# any moment as the local end of some outgoing connection, e.g. while a killed replica restarts.
_LOWEST = 10000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _first_ephemeral_port() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports, free a moment ago, outside the ephemeral range (held together, so none repeats)."""
    candidates = list(range(_LOWEST, max(_LOWEST + count, _first_ephemeral_port())))
    random.shuffle(candidates)
    with ExitStack() as stack:
        ports: list[int] = []
        for port in candidates:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:
                continue
            ports.append(port)
            if len(ports) == count:
                return ports
    raise OSError(f"no {count} free ports between {_LOWEST} and the ephemeral range")


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
