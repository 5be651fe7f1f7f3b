"""The edge role: devices' raw chunks published to the partitioned stream.

The edge runs the daemon's sources (TCP, MQTT, serial, gpsd, HTTP ingest) and its collector,
but instead of the pipeline it publishes each intake, grouped by partition, and waits for
JetStream's acknowledgement of every message before it takes the next: while JetStream does
not answer, the collector fills and the sources stop reading (backpressure, nothing dropped).
A message carries an id of its own, so one published again after an unanswered attempt is
stored once. HTTP ingest publishes a request's lines itself and answers 202 only once they are
acknowledged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import time
from dataclasses import replace
from typing import Any

from api.ingest import IngestUnavailableError
from gnss.sources.lines import drop_heartbeats
from partymap.cluster.stream import Chunk, by_partition, encode_chunks, raw_subject
from partymap.ingest.daemon import Daemon
from partymap.ingest.directory import load_directory
from partymap.ingest.intake import Intake

log = logging.getLogger(__name__)


class EdgeStats:
    """What the edge published, for ``/metrics``."""

    def __init__(self) -> None:
        self.messages = 0
        self.chunks = 0
        self.bytes = 0
        self.publish_retries = 0
        self.publish_s = 0.0


class Publisher:
    """Publishes chunks by partition; each message once, however often it is tried."""

    def __init__(self, js: Any, settings: Any, stats: EdgeStats) -> None:
        self.js = js
        self.settings = settings
        self.stats = stats
        self._ids = itertools.count()
        self._name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"

    async def publish(self, chunks: list[Chunk], member_of: dict[str, int | None]) -> None:
        """Return once every chunk is acknowledged by JetStream (retrying until it is)."""
        if not chunks:
            return
        groups = by_partition(chunks, member_of, self.settings.cluster_partitions)
        started = time.monotonic()
        await asyncio.gather(*(self._one(p, group) for p, group in groups.items()))
        self.stats.publish_s += time.monotonic() - started
        self.stats.chunks += len(chunks)

    async def _one(self, partition: int, chunks: list[Chunk]) -> None:
        payload = encode_chunks(chunks)
        headers = {"Nats-Msg-Id": f"{self._name}-{next(self._ids)}"}
        subject = raw_subject(self.settings, partition)
        pause = 0.05
        while True:
            try:
                await self.js.publish(subject, payload, timeout=2.0, headers=headers)
            except Exception as exc:  # NATS away or electing a leader: try again, never drop
                self.stats.publish_retries += 1
                log.warning("publish to %s failed (%s); retrying", subject, type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            self.stats.messages += 1
            self.stats.bytes += len(payload)
            return


class EdgeHttp:
    """The API's ingest sink on an edge: answered once JetStream acknowledged the lines."""

    def __init__(self, edge: EdgeDaemon) -> None:
        self._edge = edge
        self.accepting = True

    async def send(self, device_id: str, data: bytes) -> None:
        if not self.accepting:
            raise IngestUnavailableError("the edge is stopping")
        await self._edge.know(device_id)
        lines, _ = drop_heartbeats(data if data.endswith(b"\n") else data + b"\n")
        if lines:
            chunk = ("http", device_id, time.time(), lines)
            await self._edge.publisher.publish([chunk], self._edge.member_of())

    def status(self) -> dict[str, object]:
        return self._edge.status()

    def device_lines(self, device_id: str) -> dict[str, int] | None:
        return None  # decoded by the processing nodes, not here

    async def revoke(self, device_id: str) -> None:
        await self._edge.revoke(device_id)


class EdgeDaemon(Daemon):
    """The daemon's sources and collector, publishing instead of processing."""

    def __init__(self, *args: Any, publisher: Publisher, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publisher = publisher

    async def start(self) -> None:
        self._use_directory(await self._read(load_directory))
        # HTTP ingest publishes on its own (EdgeHttp), not through the collector.
        self.plan = replace(self.plan, http=False)
        self.http = EdgeHttp(self)  # type: ignore[assignment]
        self.writer.start()
        await self._open_sources({})  # no pipeline: replayed logs are not resumed here
        self._processor = self.tasks.start(self._process(), "publish")
        self.tasks.every(
            self.settings.ingest_directory_refresh_seconds, self.refresh_directory, "edge"
        )

    def member_of(self) -> dict[str, int | None]:
        return {uid: entry.member_id for uid, entry in self.directory.by_uid.items()}

    async def _process(self) -> None:
        while True:
            intake = await self.collector.take(idle_s=1.0)
            await self._publish(intake)
            if intake.final:
                return

    async def _publish(self, intake: Intake) -> None:
        chunks = [
            (a.source, c.device_id, c.received_at, c.data)
            for a in intake.arrivals
            for c in a.chunks
            if self.directory.active(c.device_id) is not None
        ]
        await self.publisher.publish(chunks, self.member_of())
