"""Real concurrency for tests: many calls released at the same instant, and bounded waits on conditions."""

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

A = TypeVar("A")
T = TypeVar("T")


def run_concurrently(calls: Sequence[Callable[[], T]], *, timeout: float = 120.0) -> list[T]:
    """Run each call on its own thread, all held at a barrier and released together, so that every one of them
    is in flight at once; their results in the order given (an exception in any is raised here)."""
    barrier = threading.Barrier(len(calls))

    def released_together(call: Callable[[], T]) -> T:
        barrier.wait(timeout=timeout)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(released_together, call) for call in calls]
        return [future.result(timeout=timeout) for future in futures]


def burst(call: Callable[[A], T], args: Iterable[A], *, timeout: float = 120.0) -> list[T]:
    """`call(arg)` for every arg, all in flight at once (see `run_concurrently`); results in the order of `args`."""
    return run_concurrently([partial(call, arg) for arg in args], timeout=timeout)


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.02,
    unless: Callable[[], bool] | None = None,
) -> bool:
    """Poll `condition` until it holds (True) or `timeout` passes or `unless` holds (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline or (unless is not None and unless()):
            return False
        time.sleep(interval)
