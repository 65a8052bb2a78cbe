"""A bulkhead shared fairly: at most `size` calls at once, and when callers must wait, a freed slot goes to
the waiting keys (users) in turn, so one key's flood of calls delays another key's call by at most one turn
each, instead of the whole queue in front of it."""

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable


class FairSlots:
    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: OrderedDict[Hashable, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    async def acquire(self, key: Hashable, *, give_up: Callable[[], bool], poll_seconds: float) -> bool:
        """A slot for `key`: at once if one is free and nobody waits, else in `key`'s turn. Looks at
        `give_up()` every `poll_seconds` while it waits; False (and no slot) once that says so."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return True
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(granted)
        try:
            while True:
                try:
                    await asyncio.wait_for(asyncio.shield(granted), poll_seconds)
                    return True
                except TimeoutError:
                    if granted.done():
                        return True
                    if give_up():
                        self._forget(key, granted)
                        return False
        except asyncio.CancelledError:
            if granted.done():
                self.release()  # granted as we were cancelled: pass it on
            else:
                self._forget(key, granted)
            raise

    def release(self) -> None:
        """Hand the slot to the next key in turn (which then goes to the back), or free it."""
        while self._waiting:
            key, queue = next(iter(self._waiting.items()))
            granted = queue.popleft()
            if queue:
                self._waiting.move_to_end(key)
            else:
                del self._waiting[key]
            if not granted.done():
                granted.set_result(None)
                return
        self._free += 1

    def _forget(self, key: Hashable, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(key)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self._waiting[key]
        granted.cancel()
