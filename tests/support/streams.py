"""Requests flowing through a gateway from several threads while a test breaks something; every failure kept."""

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import httpx

from fleet.waiting import wait_until

STREAM_THREADS = 4


@dataclass
class Stream:
    """`calls` in turn from STREAM_THREADS threads until stopped; an answer other than `expected[path]`, or
    none, is a failure."""

    calls: Sequence[Callable[[httpx.Client], httpx.Response]]
    expected: dict[str, int]
    url: str
    done: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def of_reads(cls, url: str, reads: Mapping[str, Mapping[str, str]]) -> "Stream":
        """GETs of each path with its headers (path -> headers), each expected to answer 200."""
        calls = [partial(_get, path=path, headers=headers) for path, headers in reads.items()]
        return cls(calls=calls, expected=dict.fromkeys(reads, 200), url=url)

    def start(self) -> None:
        for index in range(STREAM_THREADS):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
            assert not thread.is_alive(), "a stream thread is stuck"

    def _run(self, offset: int) -> None:
        with httpx.Client(base_url=self.url, timeout=15.0) as client:
            turn = offset
            while not self._stop.is_set():
                call = self.calls[turn % len(self.calls)]
                turn += 1
                try:
                    response = call(client)
                    outcome = None
                    want = self.expected[response.request.url.path]
                    if response.status_code != want:
                        outcome = f"{response.request.method} {response.request.url.path}: {response.status_code}"
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.done += 1
                    if outcome:
                        self.failures.append(outcome)

    def wait_for(self, count: int, *, timeout: float = 60.0) -> None:
        """Until `count` more requests have completed."""
        target = self.done + count
        wait_until(lambda: self.done >= target, timeout=timeout, what=f"{count} more requests to complete")


def _get(client: httpx.Client, *, path: str, headers: Mapping[str, str]) -> httpx.Response:
    return client.get(path, headers=headers)
