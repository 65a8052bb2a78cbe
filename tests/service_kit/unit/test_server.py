"""A replica writes each response whole: head and body in one write, so a kill can never split them."""

import asyncio

import httpx
from fastapi import FastAPI

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
