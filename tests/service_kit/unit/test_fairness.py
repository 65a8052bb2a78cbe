"""The fair bulkhead: slots go to waiting keys in turn, however many calls one key has queued."""

import asyncio

from service_kit.fairness import FairSlots

NEVER = lambda: False  # noqa: E731 - a give_up that never gives up


async def turns(slots: FairSlots, queued: list[str]) -> list[str]:
    """Queue one call per entry of `queued` (its key) behind a held slot, then free slots one at a time:
    the keys in the order they got one."""
    order: list[str] = []

    async def call(key: str) -> None:
        assert await slots.acquire(key, give_up=NEVER, poll_seconds=0.01)
        order.append(key)

    waiters = []
    for key in queued:
        waiters.append(asyncio.create_task(call(key)))
        await asyncio.sleep(0)  # each in the queue before the next
    for _ in queued:
        slots.release()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    await asyncio.gather(*waiters)
    return order


def test_a_free_slot_is_taken_at_once():
    async def scenario() -> None:
        slots = FairSlots(2)
        assert await slots.acquire("a", give_up=NEVER, poll_seconds=0.01)
        assert await slots.acquire("b", give_up=NEVER, poll_seconds=0.01)
        assert slots.waiting == 0

    asyncio.run(scenario())


def test_one_keys_flood_delays_another_key_by_one_turn():
    async def scenario() -> list[str]:
        slots = FairSlots(1)
        assert await slots.acquire("flood", give_up=NEVER, poll_seconds=0.01)
        return await turns(slots, ["flood"] * 10 + ["single"])

    order = asyncio.run(scenario())
    assert order[:2] == ["flood", "single"] and order.count("flood") == 10


def test_keys_take_turns():
    async def scenario() -> list[str]:
        slots = FairSlots(1)
        assert await slots.acquire("x", give_up=NEVER, poll_seconds=0.01)
        return await turns(slots, ["a", "a", "a", "b", "b", "c"])

    assert asyncio.run(scenario()) == ["a", "b", "c", "a", "b", "a"]


def test_a_waiter_that_gives_up_gets_nothing_and_leaves_the_queue():
    async def scenario() -> None:
        slots = FairSlots(1)
        assert await slots.acquire("holder", give_up=NEVER, poll_seconds=0.01)
        assert not await slots.acquire("impatient", give_up=lambda: True, poll_seconds=0.01)
        assert slots.waiting == 0
        slots.release()
        assert await slots.acquire("next", give_up=lambda: True, poll_seconds=0.01)  # the slot was freed

    asyncio.run(scenario())


def test_a_waiter_cancelled_as_it_is_granted_loses_no_slot():
    async def scenario() -> None:
        slots = FairSlots(1)
        assert await slots.acquire("holder", give_up=NEVER, poll_seconds=0.01)
        first = asyncio.create_task(slots.acquire("a", give_up=NEVER, poll_seconds=10))
        await asyncio.sleep(0)
        second = asyncio.create_task(slots.acquire("b", give_up=NEVER, poll_seconds=10))
        await asyncio.sleep(0)
        slots.release()  # granted to "a"...
        first.cancel()  # ... which is cancelled before it runs: it holds the slot, or passed it on
        try:
            holds = await first
        except asyncio.CancelledError:
            holds = False
        if holds:
            slots.release()
        assert await asyncio.wait_for(second, 1)

    asyncio.run(scenario())
