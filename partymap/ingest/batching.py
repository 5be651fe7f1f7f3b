"""Micro-batches: chunks from every source gathered for the pipeline (DESIGN §1).

One pump task per source moves whatever the source has ready into the :class:`Collector`; the
pipeline takes an :class:`~partymap.ingest.pipeline.Intake` when it is free. An intake closes
at ``max_lines`` lines or ``max_wait_s`` after its first chunk, whichever comes first, so a
quiet daemon answers within tens of milliseconds and a busy one works on large batches. An
intake never holds more than ``max_lines`` lines or ``max_bytes`` bytes (but for a single chunk
larger than that), and it is shared fairly: chunks are taken one device at a time, round robin,
so a device draining a backlog delays the others by one batch at most.

A chunk may be :meth:`~Collector.expect`-ed with a receipt (an HTTP body, a complete upload):
the intake that takes it closes its device's open epoch (as a stream's end does) and carries
the receipt, which the writer resolves once that intake's fixes are committed. While the collector
holds ``max_lines`` lines the pumps wait: the sources' own bounded channels fill and they stop
reading — this is where backpressure from the store reaches the sources.

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
import collections
import math
import time

from gnss.model import RawChunk
from gnss.sources import Source
from partymap.ingest.handover import Handed, Receipt
from partymap.ingest.pipeline import Arrival, Intake

PUMP_CHUNKS = 512  # chunks a pump moves at a time (the intake's bounds are the collector's)


class Collector:
    """Chunks waiting for the pipeline, in arrival order, and the streams that ended."""

    def __init__(
        self, *, max_lines: int = 20_000, max_bytes: int = 4_000_000, max_wait_s: float = 0.05
    ) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.max_wait_s = max_wait_s
        # Per device, its chunks waiting (with their source's label and timing), in order.
        self._waiting: dict[str, collections.deque[tuple[RawChunk, str, bool]]] = {}
        self._ended: list[str] = []
        self._handed: list[Handed] = []
        # Receipts of expected chunks (by the chunk's identity: it waits in ``_waiting``).
        self._expected: dict[int, Receipt] = {}
        self._lines = 0
        self._first_at = math.inf
        self._final = False
        self._changed = asyncio.Event()  # something arrived or was taken

    def backlog(self) -> dict[str, int]:
        """Lines waiting for the pipeline, by source."""
        waiting: dict[str, int] = {}
        for queue in self._waiting.values():
            for chunk, label, _ in queue:
                waiting[label] = waiting.get(label, 0) + chunk.data.count(b"\n")
        return waiting

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
            chunks = await source.get_batch(PUMP_CHUNKS)
            if not chunks:
                break
            if not self._waiting and not self._handed:
                self._first_at = time.monotonic()
            for chunk in chunks:
                queue = self._waiting.setdefault(chunk.device_id, collections.deque())
                queue.append((chunk, label, timed))
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
        if not self._waiting and not self._handed:
            self._first_at = time.monotonic()
        self._handed.append(handed)
        self._lines += len(handed)
        self._changed.set()

    def expect(self, chunk: RawChunk, receipt: Receipt) -> None:
        """``chunk`` (about to arrive through a pump) ends an upload: the intake that takes it
        closes the device's open epoch and carries ``receipt``."""
        self._expected[id(chunk)] = receipt

    def finish(self) -> None:
        """The sources are closed: the next intake, with all that is left, is the last."""
        self._final = True
        self._changed.set()

    async def take(self, *, idle_s: float | None = None) -> Intake:
        """The next intake: waits for a first chunk, then until the intake is full or old
        enough. After ``idle_s`` seconds without any chunk, an empty intake (the pipeline's
        clock still has to end the visits of members gone silent)."""
        while not (self._waiting or self._handed or self._ended or self._final):
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), idle_s)
            except TimeoutError:
                break
        while (
            (self._waiting or self._handed)
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
        arrivals, lines, posted = self._fair_share()
        final = self._final and not self._waiting
        # A stream's end closes its last epoch only once all its chunks have been taken.
        ended = [d for d in self._ended if d not in self._waiting]
        self._ended = [d for d in self._ended if d in self._waiting]
        ended += [d for d in dict.fromkeys(d for d, _ in posted) if d not in ended]
        handed, self._handed = self._handed, []
        intake = Intake(arrivals, time.time(), ended, final=final, handed=handed, posted=posted)
        self._lines -= lines + sum(len(h) for h in handed)
        if self._waiting:
            self._first_at = time.monotonic() - self.max_wait_s  # the rest: the next at once
        else:
            self._lines, self._first_at = 0, math.inf
        self._changed.set()
        return intake

    def _fair_share(self) -> tuple[list[Arrival], int, list[tuple[str, Receipt]]]:
        """Chunks for one intake, a device at a time, until the bounds; each device's chunks
        in order, grouped into arrivals of one source; the receipts of the expected ones."""
        arrivals: list[Arrival] = []
        posted: list[tuple[str, Receipt]] = []
        lines = size = 0
        while self._waiting:
            for device_id in list(self._waiting):
                queue = self._waiting[device_id]
                chunk, label, timed = queue[0]
                n = chunk.data.count(b"\n")
                if (lines or size) and (
                    lines + n > self.max_lines or size + len(chunk.data) > self.max_bytes
                ):
                    return arrivals, lines, posted
                queue.popleft()
                receipt = self._expected.pop(id(chunk), None) if self._expected else None
                if receipt is not None:
                    posted.append((device_id, receipt))
                if not queue:
                    del self._waiting[device_id]
                lines, size = lines + n, size + len(chunk.data)
                last = arrivals[-1] if arrivals else None
                if last is None or last.source != label or last.timed != timed:
                    arrivals.append(Arrival([], label, timed))
                arrivals[-1].chunks.append(chunk)
        return arrivals, lines, posted
