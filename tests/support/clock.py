"""Waiting for a moment of the wall clock (the gateway's catalogue cache expires answers as a second ends)."""

import time

from fleet.waiting import wait_until


def just_after_a_second_began() -> None:
    """Return early in a wall-clock second, so that what the gateway caches now lives for most of a second."""
    wait_until(lambda: 0.02 <= time.time() % 1 <= 0.2, timeout=2, interval=0.005, what="the start of a second")
