"""Run one replica: the command every image, the supervisor and the fleet tests start."""

import ctypes
import ctypes.util

import uvicorn

from service_kit.settings import ServiceSettings

_M_MMAP_THRESHOLD = -3
_ONE_MIB = 1 << 20


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


def serve(app_factory: str, settings: ServiceSettings) -> None:
    """Serve `module:create_app` on HOST:PORT until SIGTERM, then finish in-flight requests."""
    return_large_blocks_to_the_os()
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.HOST,
        port=settings.PORT,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=75,  # longer than nginx's upstream keepalive_timeout, so nginx closes first
    )
