"""Micro-batches are bounded in lines and bytes and shared fairly between devices: a device
draining a 600k-line backlog never makes a batch above the bound, and a well-behaved device's
lines go in the next batch after they arrive, not behind the backlog."""

from __future__ import annotations

import asyncio
import time

from gnss.sources import MemorySource
from partymap.ingest.batching import Collector
from tests.sources.helpers import run

BACKLOG_LINES = 600_000
LINE = b"$GNGGA,080000.00,3030.0000,N,11418.0000,E,1,12,0.9,21.5,M,,M,,*4B\r\n"


def test_a_backlog_neither_overflows_batches_nor_delays_another_device() -> None:
    collector = Collector(max_lines=5_000, max_bytes=200_000, max_wait_s=0.01)
    backlog = [("busy", LINE * 100) for _ in range(BACKLOG_LINES // 100)]

    async def go() -> tuple[list[tuple[int, int]], float]:
        sizes: list[tuple[int, int]] = []
        async with (
            MemorySource(backlog, queue_size=100_000) as busy,
            MemorySource(queue_size=10) as quiet,
        ):
            pumps = [
                asyncio.ensure_future(collector.pump(busy, "tcp")),
                asyncio.ensure_future(collector.pump(quiet, "http")),
            ]
            sent_at = None
            waited = -1.0
            taken = 0
            while taken < BACKLOG_LINES + 10:
                intake = await collector.take(idle_s=1.0)
                chunks = [c for a in intake.arrivals for c in a.chunks]
                lines = sum(c.data.count(b"\n") for c in chunks)
                sizes.append((lines, sum(len(c.data) for c in chunks)))
                taken += lines
                if sent_at is None and taken > BACKLOG_LINES // 10:
                    await quiet.send("quiet", LINE * 10)  # arrives mid-backlog
                    sent_at = time.monotonic()
                    await asyncio.sleep(0)
                elif (
                    sent_at is not None
                    and waited < 0
                    and any(c.device_id == "quiet" for c in chunks)
                ):
                    waited = time.monotonic() - sent_at
                await asyncio.sleep(0.001)  # the pipeline's work
            for pump in pumps:
                pump.cancel()
        return sizes, waited

    sizes, waited = run(go(), timeout=120)
    assert sum(lines for lines, _ in sizes) == BACKLOG_LINES + 10
    assert max(lines for lines, _ in sizes) <= 5_000
    assert max(size for _, size in sizes) <= 200_000
    assert 0 <= waited < 2.0
