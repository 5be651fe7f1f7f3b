"""Micro-batches: chunks from every source gathered for the pipeline (DESIGN §1).

One pump task per source moves whatever the source has ready into the :class:`Collector`; the
pipeline takes an :class:`~partymap.ingest.pipeline.Intake` when it is free. An intake closes
at ``max_lines`` lines or ``max_wait_s`` after its first chunk, whichever comes first, so a
quiet daemon answers within tens of milliseconds and a busy one works on large batches. While
the collector holds ``max_lines`` lines the pumps wait: the sources' own bounded channels fill
and they stop reading — this is where backpressure from the store reaches the sources.

>>> import asyncio
>>> from gnss.sources import MemorySource
>>> async def demo() -> list[str]:
...     collector = Collector(max_lines=100, max_wait_s=0.01)
...     async with MemorySource([("d1", b"$GPGGA,1*00\\n"), ("d2", b"$GPGGA,2*00\\n")]) as src:
...         await collector.pump(src, "memory")
...     intake = await collector.take()
...     return [c.device_id for a in intake.arrivals for c in a.chunks]
>>> asyncio.run(demo())
['d1', 'd2']
"""

from __future__ import annotations

import asyncio
import math
import time

from gnss.sources import Source
from partymap.ingest.handover import Handed
from partymap.ingest.pipeline import Arrival, Intake


class Collector:
    """Chunks waiting for the pipeline, in arrival order, and the streams that ended."""

    def __init__(self, *, max_lines: int = 20_000, max_wait_s: float = 0.05) -> None:
        self.max_lines = max_lines
        self.max_wait_s = max_wait_s
        self._arrivals: list[Arrival] = []
        self._ended: list[str] = []
        self._handed: list[Handed] = []
        self._lines = 0
        self._first_at = math.inf
        self._final = False
        self._changed = asyncio.Event()  # something arrived or was taken

    @property
    def pending_lines(self) -> int:
        return self._lines

    async def pump(
        self, source: Source, label: str, *, timed: bool = True, device_id: str | None = None
    ) -> None:
        """Move ``source``'s chunks in until it ends; a source of one device (``device_id``)
        then has its stream's end announced, so its last epoch is closed."""
        while True:
            while self._lines >= self.max_lines:
                self._changed.clear()
                await self._changed.wait()
            chunks = await source.get_batch(4096)
            if not chunks:
                break
            if not self._arrivals and not self._handed:
                self._first_at = time.monotonic()
            self._arrivals.append(Arrival(chunks, label, timed))
            self._lines += sum([chunk.data.count(b"\n") for chunk in chunks])
            self._changed.set()
        if device_id is not None:
            self._ended.append(device_id)
            self._changed.set()

    async def hand(self, handed: Handed) -> None:
        """Take fixes decoded by their source (:mod:`partymap.ingest.handover`); each fix
        counts as a line towards the intake's size, and waits as the pumps do."""
        while self._lines >= self.max_lines:
            self._changed.clear()
            await self._changed.wait()
        if not self._arrivals and not self._handed:
            self._first_at = time.monotonic()
        self._handed.append(handed)
        self._lines += len(handed.fixes)
        self._changed.set()

    def finish(self) -> None:
        """The sources are closed: the next intake, with all that is left, is the last."""
        self._final = True
        self._changed.set()

    async def take(self, *, idle_s: float | None = None) -> Intake:
        """The next intake: waits for a first chunk, then until the intake is full or old
        enough. After ``idle_s`` seconds without any chunk, an empty intake (the pipeline's
        clock still has to end the visits of members gone silent)."""
        while not (self._arrivals or self._handed or self._ended or self._final):
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), idle_s)
            except TimeoutError:
                break
        while (
            (self._arrivals or self._handed)
            and self._lines < self.max_lines
            and not (self._ended or self._final)
        ):
            left = self._first_at + self.max_wait_s - time.monotonic()
            if left <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                break
        intake = Intake(
            self._arrivals, time.time(), self._ended, final=self._final, handed=self._handed
        )
        self._arrivals, self._ended, self._handed = [], [], []
        self._lines, self._first_at = 0, math.inf
        self._changed.set()
        return intake
