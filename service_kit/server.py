"""Run one replica: the command every image, the supervisor and the fleet tests start."""

import asyncio
import ctypes
import ctypes.util
import gc
import socket
import sys
from typing import Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service_kit.settings import ServiceSettings

_M_MMAP_THRESHOLD = -3
_ONE_MIB = 1 << 20
# A start imports some 1,000 modules, whose objects live as long as the process; with the cyclic collector
# on, it would scan that growing heap about 280 times on the way, an eighth of the start (make profile
# --startup). Each service's __main__ switches it off first thing; it comes back on this long after the
# replica listens, off the path to its first ready probe.
SETTLE_HEAP_AFTER_SECONDS = 1.0


def return_large_blocks_to_the_os() -> None:
    """Keep glibc from hoarding large freed blocks. Its mmap threshold normally rises to the size of the
    largest block freed, so after argon2's 19 MiB buffers every worker thread's arena keeps ~19 MiB for good
    (an auth replica grew past 380 MiB). A fixed threshold serves such blocks by mmap and unmaps them on free."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "mallopt"):  # glibc; other C libraries manage this themselves
        libc.mallopt(_M_MMAP_THRESHOLD, _ONE_MIB)


class WholeResponses:
    """A transport that hands the socket one write per event-loop turn. uvicorn writes a response's head and
    its body separately; a replica killed between the two would leave nginx holding a head it has already
    passed to the client and no body, a broken response it can no longer send to the other replica. Written
    together, a response arrives whole or not at all (and costs one system call, not two)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class WholeResponseProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through `WholeResponses`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, WholeResponses(transport, self.loop)))


def settle_the_heap() -> None:
    """Collect what the start left behind, once, freeze the survivors (no later collection scans them again:
    gc.freeze) and switch the collector back on."""
    gc.collect()
    gc.freeze()
    gc.enable()


class ReplicaServer(uvicorn.Server):
    """uvicorn's server, settling the start's heap shortly after it listens."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        asyncio.get_running_loop().call_later(SETTLE_HEAP_AFTER_SECONDS, settle_the_heap)


def serve(app_factory: str, settings: ServiceSettings) -> None:
    """Serve `module:create_app` on HOST:PORT until SIGTERM, then finish in-flight requests."""
    return_large_blocks_to_the_os()
    config = uvicorn.Config(
        app_factory,
        factory=True,
        host=settings.HOST,
        port=settings.PORT,
        loop="uvloop",
        http=WholeResponseProtocol,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,  # nothing here reads the client's address; the gateway limits and logs by it
        timeout_graceful_shutdown=20,
        timeout_keep_alive=75,  # longer than nginx's upstream keepalive_timeout, so nginx closes first
    )
    server = ReplicaServer(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn.run: a replica that never served exits non-zero
