"""The live feed: an in-process broadcast of positions and check-ins for the map's SSE stream.

The ingestion pipeline publishes (from any thread); each subscriber (one SSE connection) reads
from its own bounded queue. A subscriber that cannot keep up loses its oldest events, and the
loss is counted, so a slow browser never holds up ingestion.

>>> import asyncio
>>> async def demo():
...     feed = LiveFeed()
...     with feed.subscribe() as sub:
...         feed.publish({"type": "checkin", "member_id": 7, "org_path": "/1/4/"})
...         return await sub.get()
>>> asyncio.run(demo())["member_id"]
7
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

LiveEvent = Mapping[str, Any]


class Subscription:
    """One reader's view of the feed: a bounded queue of events, oldest dropped first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, maxlen: int) -> None:
        self._loop = loop
        self._events: deque[LiveEvent] = deque(maxlen=maxlen)
        self._ready = asyncio.Event()
        self.dropped = 0

    def _put(self, events: tuple[LiveEvent, ...]) -> None:
        overflow = len(self._events) + len(events) - (self._events.maxlen or 0)
        self.dropped += max(0, overflow)
        self._events.extend(events)
        self._ready.set()

    async def get(self, timeout: float | None = None) -> LiveEvent | None:
        """The next event, or None when ``timeout`` seconds pass without one."""
        while not self._events:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        return self._events.popleft()


class LiveFeed:
    """Broadcast hub. ``publish`` is safe from any thread; ``subscribe`` from an event loop."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self.published = 0

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        sub = Subscription(asyncio.get_running_loop(), self._queue_size)
        with self._lock:
            self._subscribers.add(sub)
        try:
            yield sub
        finally:
            with self._lock:
                self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: LiveEvent) -> None:
        self.publish_many((event,))

    def publish_many(self, events: tuple[LiveEvent, ...] | list[LiveEvent]) -> None:
        if not events:
            return
        batch = tuple(events)
        with self._lock:
            subscribers = list(self._subscribers)
            self.published += len(batch)
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for sub in subscribers:
            if sub._loop is running:
                sub._put(batch)
            elif not sub._loop.is_closed():
                sub._loop.call_soon_threadsafe(sub._put, batch)
