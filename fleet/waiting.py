"""Bounded waiting on conditions: poll often, give up at a deadline, say what was awaited."""

import time
from collections.abc import Callable

import httpx

POLL_INTERVAL_SECONDS = 0.05


class FleetError(RuntimeError):
    """The fleet could not be prepared, started, reached or stopped as asked."""


def wait_until(
    condition: Callable[[], bool], *, timeout: float, what: str, interval: float = POLL_INTERVAL_SECONDS
) -> None:
    """Return as soon as `condition()` holds; FleetError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise FleetError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def answers(client: httpx.Client, url: str, status: int = 200) -> bool:
    """Whether GET `url` answers with `status` right now (any transport error counts as no)."""
    try:
        return client.get(url).status_code == status
    except httpx.HTTPError:
        return False
