"""A real HTTP server for an app inside the test process, for tests that need real sockets and real
concurrency without the whole fleet (e.g. the order service calling a live product service)."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from service_kit.server import WholeResponseProtocol


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: FastAPI, *, timeout: float = 15.0) -> Iterator[str]:
    """Serve `app` on a free loopback port, with the replicas' HTTP protocol, until the block ends; yields its
    base URL once its /readyz answers 200."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=WholeResponseProtocol, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"server on {base_url} did not become ready")
        time.sleep(0.05)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
