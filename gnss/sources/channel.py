"""A bounded FIFO of :class:`~gnss.model.RawChunk` between a source's producers and its consumer.

Unlike :class:`asyncio.Queue` it can be closed (optionally with the producer's error), drained in
batches, and waited on from plain callbacks: a TCP connection whose chunk does not fit pauses its
socket and asks for a future that resolves when there is room, which is how a slow consumer stops
the reading of sockets instead of letting memory grow.

>>> import asyncio
>>> from gnss.model import RawChunk
>>> async def demo() -> list[bytes]:
...     channel = ChunkChannel(maxsize=1)
...     assert channel.offer(RawChunk("d1", b"$A\\n", 0.0))
...     assert not channel.offer(RawChunk("d1", b"$B\\n", 0.0))  # full: the caller must wait
...     channel.close()
...     return [chunk.data for chunk in await channel.get_batch(10)]
>>> asyncio.run(demo())
[b'$A\\n']
"""

from __future__ import annotations

import asyncio
from collections import deque

from gnss.model import RawChunk


class ChunkChannel:
    """Bounded, closable FIFO with one consumer and any number of producers."""

    __slots__ = ("_error", "_getter", "_items", "_maxsize", "_room_waiters", "closed")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        self._maxsize = maxsize
        self._items: deque[RawChunk] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._room_waiters: deque[asyncio.Future[None]] = deque()
        self._error: BaseException | None = None
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, chunk: RawChunk) -> bool:
        """Append ``chunk`` if there is room; False (and nothing appended) when full."""
        if self.closed:
            raise RuntimeError("offer to a closed channel")
        if len(self._items) >= self._maxsize:
            return False
        self._items.append(chunk)
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)
        return True

    def wait_for_room(self) -> asyncio.Future[None]:
        """A future resolved when a chunk has been taken out; the caller then offers again."""
        waiter = asyncio.get_running_loop().create_future()
        self._room_waiters.append(waiter)
        return waiter

    async def put(self, chunk: RawChunk) -> None:
        """Append ``chunk``, waiting as long as the channel is full."""
        while not self.offer(chunk):
            waiter = self.wait_for_room()
            try:
                await waiter
            except asyncio.CancelledError:
                # The room this waiter was given must not be lost with it.
                if waiter.done() and not waiter.cancelled():
                    self._wake(1)
                raise

    def close(self, error: BaseException | None = None) -> None:
        """No more chunks: the consumer drains what is here, then sees the end (or ``error``)."""
        self.closed = True
        self._error = self._error or error
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)

    async def get(self) -> RawChunk:
        """The next chunk; at the end, :class:`StopAsyncIteration` or the producer's error."""
        await self._wait_for_items()
        self._wake(1)
        return self._items.popleft()

    async def get_batch(self, limit: int) -> list[RawChunk]:
        """At least one and at most ``limit`` chunks; an empty list at the end of the stream."""
        try:
            await self._wait_for_items()
        except StopAsyncIteration:
            return []
        items = self._items
        count = min(limit, len(items))
        batch = [items.popleft() for _ in range(count)]
        self._wake(count)
        return batch

    async def _wait_for_items(self) -> None:
        while not self._items:
            if self.closed:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None

    def _wake(self, count: int) -> None:
        waiters = self._room_waiters
        while count and waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1
