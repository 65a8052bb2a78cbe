"""service_kit.batching.Batcher: what arrives while a batch is in flight is the next batch, in arrival order,
each caller answered with its own outcome; no timer holds a lone request back."""

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import pytest

from service_kit.batching import Batcher

T = TypeVar("T")


class Recorder:
    """An `apply` that records each batch and waits for `release` before answering: item n -> n * 10, or a
    ValueError for negative items."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, items: Sequence[int]) -> Sequence[int | Exception]:
        self.batches.append(list(items))
        self.started.set()
        await self.release.wait()
        return [ValueError(item) if item < 0 else item * 10 for item in items]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, 10))


def test_a_lone_request_is_applied_at_once() -> None:
    async def scenario() -> tuple[int, list[list[int]]]:
        recorder = Recorder()
        recorder.release.set()
        batcher: Batcher[int, int] = Batcher(recorder, max_size=10, max_weight=100)
        return await batcher.submit(3), recorder.batches

    assert run(scenario()) == (30, [[3]])


def test_requests_arriving_during_a_batch_make_the_next_one_in_arrival_order() -> None:
    async def scenario() -> tuple[list[int], list[list[int]]]:
        recorder = Recorder()
        batcher: Batcher[int, int] = Batcher(recorder, max_size=10, max_weight=100)
        first = asyncio.create_task(batcher.submit(1))
        await recorder.started.wait()
        later = [asyncio.create_task(batcher.submit(n)) for n in (2, 3, 4)]
        await asyncio.sleep(0)  # let them queue behind the batch in flight
        recorder.release.set()
        return await asyncio.gather(first, *later), recorder.batches

    assert run(scenario()) == ([10, 20, 30, 40], [[1], [2, 3, 4]])


def test_a_batch_is_bounded_in_size_and_weight() -> None:
    async def scenario() -> list[list[int]]:
        recorder = Recorder()
        batcher: Batcher[int, int] = Batcher(recorder, max_size=3, max_weight=10, weight=lambda item: item)
        first = asyncio.create_task(batcher.submit(1))
        await recorder.started.wait()
        queued = [asyncio.create_task(batcher.submit(n)) for n in (1, 1, 1, 1, 6, 5, 20)]
        await asyncio.sleep(0)
        recorder.release.set()
        await asyncio.gather(first, *queued)
        return recorder.batches

    # Three at most; then 1 + 6 fits 10 but 1 + 6 + 5 does not; a request heavier than the bound goes alone.
    assert run(scenario()) == [[1], [1, 1, 1], [1, 6], [5], [20]]


def test_each_caller_gets_its_own_refusal_and_the_others_their_results() -> None:
    async def scenario() -> list[int | BaseException]:
        recorder = Recorder()
        batcher: Batcher[int, int] = Batcher(recorder, max_size=10, max_weight=100)
        first = asyncio.create_task(batcher.submit(1))
        await recorder.started.wait()
        queued = [asyncio.create_task(batcher.submit(n)) for n in (2, -3, 4)]
        await asyncio.sleep(0)
        recorder.release.set()
        return await asyncio.gather(first, *queued, return_exceptions=True)

    first, second, refused, fourth = run(scenario())
    assert (first, second, fourth) == (10, 20, 40)
    assert isinstance(refused, ValueError) and refused.args == (-3,)


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_runs() -> None:
    async def scenario() -> tuple[tuple[int | BaseException, ...], list[list[int]]]:
        batches: list[list[int]] = []

        async def apply(items: Sequence[int]) -> Sequence[int | Exception]:
            batches.append(list(items))
            if len(batches) == 1:
                await asyncio.sleep(0.01)
                raise ConnectionError("the database went away")
            return [item for item in items]

        batcher: Batcher[int, int] = Batcher(apply, max_size=10, max_weight=100)
        first = asyncio.create_task(batcher.submit(1))
        await asyncio.sleep(0)
        second = asyncio.create_task(batcher.submit(2))
        return tuple(await asyncio.gather(first, second, return_exceptions=True)), batches

    (first, second), batches = run(scenario())
    assert isinstance(first, ConnectionError)
    assert second == 2
    assert batches == [[1], [2]]


def test_a_caller_that_gave_up_before_its_batch_began_is_left_out() -> None:
    async def scenario() -> list[list[int]]:
        recorder = Recorder()
        batcher: Batcher[int, int] = Batcher(recorder, max_size=10, max_weight=100)
        first = asyncio.create_task(batcher.submit(1))
        await recorder.started.wait()
        gives_up = asyncio.create_task(batcher.submit(2))
        stays = asyncio.create_task(batcher.submit(3))
        await asyncio.sleep(0)
        gives_up.cancel()
        recorder.release.set()
        await asyncio.gather(first, stays)
        with pytest.raises(asyncio.CancelledError):
            await gives_up
        return recorder.batches

    assert run(scenario()) == [[1], [3]]
