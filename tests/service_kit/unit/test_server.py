"""A replica writes each response whole: head and body in one write, so a kill can never split them; and once
it serves, the heap its start built is collected once and frozen, and the collector is back on."""

import asyncio
import json
import subprocess
import sys
from typing import Any

import httpx
from fastapi import FastAPI

from fleet.config import REPO_ROOT
from service_kit.server import WholeResponses
from tests.support.servers import serving


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


class TestWholeResponses:
    def test_writes_of_one_loop_turn_reach_the_socket_as_one(self):
        async def respond() -> RecordingTransport:
            real = RecordingTransport()
            transport = WholeResponses(real, asyncio.get_running_loop())  # type: ignore[arg-type]
            transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
            transport.write(b"{}")
            assert real.writes == []
            await asyncio.sleep(0)  # one loop turn
            return real

        real = asyncio.run(respond())
        assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]

    def test_close_sends_what_is_pending_first(self):
        async def close_at_once() -> RecordingTransport:
            real = RecordingTransport()
            transport = WholeResponses(real, asyncio.get_running_loop())  # type: ignore[arg-type]
            transport.write(b"bye")
            transport.close()
            return real

        real = asyncio.run(close_at_once())
        assert real.writes == [b"bye"] and real.closed

    def test_everything_else_is_the_real_transport(self):
        real = RecordingTransport()
        transport = WholeResponses(real, asyncio.new_event_loop())  # type: ignore[arg-type]
        assert transport.get_extra_info("peername") == "info:peername"


def test_a_real_server_answers_through_it_with_keep_alive():
    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/thing")
    async def thing() -> dict[str, str]:
        return {"name": "lamp"}

    with serving(app) as url, httpx.Client(base_url=url) as client:
        answers = [client.get("/thing") for _ in range(3)]  # one kept-alive connection
    assert [(answer.status_code, answer.json()) for answer in answers] == [(200, {"name": "lamp"})] * 3


def facts_printed_by(script: str) -> dict[str, Any]:
    """The JSON object a Python script prints, run in a process of its own: freezing this process's heap would
    keep the whole test session's objects alive."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    return dict(json.loads(result.stdout))


class TestSettleTheHeap:
    def test_the_start_is_collected_once_frozen_and_the_collector_is_back_on(self):
        script = """
import gc, json
gc.disable()
class Node: pass
for _ in range(1000):
    a, b = Node(), Node(); a.other, b.other = b, a  # cycles only the collector can free
from service_kit.server import settle_the_heap
settle_the_heap()
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "nodes": sum(isinstance(o, Node) for o in gc.get_objects())}))
"""
        facts = facts_printed_by(script)
        assert facts["enabled"] is True
        assert facts["frozen"] > 0
        assert facts["nodes"] == 0, "the start's garbage was frozen instead of collected"

    def test_a_replica_settles_its_heap_once_it_listens(self):
        # serve()'s server, on an empty app, in a process whose collector is off as a replica's is.
        script = """
import gc, json, socket, threading, time
gc.disable()
import uvicorn
from fastapi import FastAPI
from service_kit import server
server.SETTLE_HEAP_AFTER_SECONDS = 0.2
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
replica = server.ReplicaServer(uvicorn.Config(FastAPI(), port=port, log_config=None, lifespan="off"))
thread = threading.Thread(target=replica.run)
thread.start()
deadline = time.monotonic() + 30
while not (replica.started and gc.isenabled()) and time.monotonic() < deadline:
    time.sleep(0.01)
replica.should_exit = True
thread.join(30)
print(json.dumps({"started": replica.started, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""
        facts = facts_printed_by(script)
        assert facts["started"] is True
        assert facts["enabled"] is True
        assert facts["frozen"] > 0
