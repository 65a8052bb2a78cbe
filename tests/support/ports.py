"""Free ports for the fleets, gateways and databases the tests start."""

import random
import socket
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
