"""Requests that arrive together, applied together.

A `Batcher` applies what callers submit in batches, in arrival order: a request that finds no batch in
flight starts one at once, and the requests that arrive while a batch is in flight make up the next one
(up to `max_size` of them and `max_weight` in all). No timer ever holds a request back, so a lone request
costs what it did alone, and under load a batch holds what arrived during the one before it.

`apply` answers each request of a batch with its own result or its own exception; an exception raised by
`apply` itself (the database down, a timeout) is every request's answer. A caller that gives up (its task is
cancelled) before its batch starts is left out of it; once the batch has started, it is applied anyway."""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

Apply = Callable[[Sequence[In]], Awaitable[Sequence[Out | Exception]]]


class Batcher(Generic[In, Out]):
    def __init__(
        self, apply: Apply[In, Out], *, max_size: int, max_weight: int, weight: Callable[[In], int] = lambda _: 1
    ) -> None:
        self._apply = apply
        self._max_size = max_size
        self._max_weight = max_weight
        self._weight = weight
        self._waiting: deque[tuple[In, asyncio.Future[Out]]] = deque()
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, request: In) -> Out:
        """Apply `request` in the next batch; its own result, or its own exception raised."""
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._next_batch()
                if batch:
                    await self._run(batch)
        finally:
            self._runner = None
            # Cancelled (the server is stopping): nobody is left waiting for an answer that never comes.
            while self._waiting:
                self._waiting.popleft()[1].cancel()

    def _next_batch(self) -> list[tuple[In, asyncio.Future[Out]]]:
        batch: list[tuple[In, asyncio.Future[Out]]] = []
        weight = 0
        while self._waiting and len(batch) < self._max_size:
            request, future = self._waiting[0]
            if future.done():  # its caller gave up
                self._waiting.popleft()
                continue
            weight += self._weight(request)
            if batch and weight > self._max_weight:
                break
            batch.append(self._waiting.popleft())
        return batch

    async def _run(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            outcomes: Sequence[Out | Exception] = await self._apply([request for request, _ in batch])
        except Exception as exc:
            outcomes = [exc] * len(batch)
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
