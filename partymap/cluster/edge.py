"""The edge role: devices' raw chunks published to the partitioned stream.

The edge runs the daemon's sources (TCP, MQTT, serial, gpsd, HTTP ingest) and its collector,
but instead of the pipeline it hands each intake to the :class:`Publisher`, which gathers each
partition's chunks into one message until the oldest was received ``CLUSTER_PUBLISH_SECONDS``
ago or the message is ``CLUSTER_PUBLISH_BYTES`` long. Each partition has at most one message
in flight (its chunks gather meanwhile: a slower JetStream gets larger messages), so the
partitions' messages are pipelined while each partition's stay in order, and a message tried
again after an unanswered attempt cannot overtake a later one. A message carries an id of its
own, so one published again is stored once. While ``CLUSTER_PUBLISH_PENDING_BYTES`` wait or
are in flight the edge takes nothing more from the collector: it fills and the sources stop
reading (backpressure, nothing dropped).

A delivery counts once JetStream acknowledged it: HTTP ingest answers 202 only then, and MQTT
messages are acknowledged to the broker only then.

No message is longer than the NATS servers take (:mod:`partymap.cluster.payload`): a chunk too
long for one message is cut at line boundaries, a line too long for any is refused (HTTP: 413)
or dropped and counted, and a message the client refuses because the server it reconnected to
takes less is cut again, never tried again as it is.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nats.errors import MaxPayloadError

from api.ingest import IngestTooLargeError, IngestUnavailableError
from gnss.model import RawChunk
from gnss.sources import MqttSource
from gnss.sources.lines import drop_heartbeats
from partymap.cluster.payload import CHUNK_COLUMNS, fit, longest_line, message_room
from partymap.cluster.stream import Chunk, by_partition, encode_chunks, raw_subject
from partymap.ingest.daemon import Daemon
from partymap.ingest.directory import load_directory
from partymap.ingest.intake import Intake

log = logging.getLogger(__name__)

MemberOf = Callable[[str], int | None]  # a device's member (None: nobody carries it)
ATTEMPT_TIMEOUT_S = 2.0  # a publish unanswered this long is tried again (same id)


class EdgeStats:
    """What the edge published, for ``/metrics``."""

    def __init__(self) -> None:
        self.messages = 0
        self.chunks = 0
        self.bytes = 0
        self.publish_retries = 0
        self.publish_s = 0.0
        self.chunks_cut = 0  # chunks too long for one message, cut at line boundaries
        self.oversized_lines_dropped = 0  # lines too long for any message (not from HTTP)
        self.oversized_bodies_refused = 0  # HTTP bodies holding such a line (answered 413)


class Delivery:
    """Chunks handed to the publisher together: done once every message holding them is
    acknowledged by JetStream."""

    def __init__(self, messages: int) -> None:
        self.waiting = messages
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not messages:
            self.done.set_result(None)

    def acknowledged(self) -> None:
        self.waiting -= 1
        if self.waiting == 0 and not self.done.done():
            self.done.set_result(None)


@dataclass(slots=True)
class _Gathering:
    """One partition's chunks waiting for its next message."""

    chunks: list[Chunk] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    size: int = 0
    since: float = math.inf  # when its oldest chunk was received (UTC seconds)


class Publisher:
    """Gathers chunks by partition and publishes them (see the module's docstring); each
    message is stored once however often it is tried."""

    def __init__(
        self,
        js: Any,
        settings: Any,
        stats: EdgeStats,
        *,
        max_payload: Callable[[], int] = lambda: 1_048_576,
    ) -> None:
        self.js = js
        self.settings = settings
        self.stats = stats
        # The servers' limit as the client last heard it (it may change on a reconnect).
        self._max_payload = max_payload
        self._ids = itertools.count()
        self._name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        self._gathering: dict[int, collections.deque[_Gathering]] = {}
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._pending_bytes = 0  # gathering or in flight
        self._changed = asyncio.Event()  # something to send, or a message acknowledged
        self._draining = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._send_due(), name="publish")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def room(self) -> int:
        """The bytes of chunks one message may hold now (CLUSTER_PUBLISH_BYTES at most)."""
        full: int = self.settings.cluster_publish_bytes
        return min(full, message_room(self._max_payload()))

    def line_room(self, uid: str) -> int:
        """The longest line of device ``uid`` that one message can carry."""
        return message_room(self._max_payload()) - len(uid) - CHUNK_COLUMNS

    def _fitting(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        """``chunks``, each too long for one message cut at line boundaries (lines too long
        for any message dropped, logged and counted)."""
        out: list[Chunk] = []
        for chunk in chunks:
            label, uid, received, data = chunk
            room = self.line_room(uid)
            if len(data) <= room:
                out.append(chunk)
                continue
            pieces, dropped = fit(data, room)
            self.stats.chunks_cut += 1
            if dropped:
                self.stats.oversized_lines_dropped += dropped
                log.warning(
                    "%s device %s: %d line(s) longer than one NATS message (%d bytes) dropped",
                    label,
                    uid,
                    dropped,
                    room,
                )
            out += [(label, uid, received, piece) for piece in pieces]
        return out

    async def add(self, chunks: Sequence[Chunk], member_of: MemberOf) -> Delivery:
        """Take ``chunks`` in (waiting while too much is pending); the delivery says when they
        are acknowledged."""
        while self._pending_bytes >= self.settings.cluster_publish_pending_bytes:
            self._changed.clear()
            await self._changed.wait()
        groups = by_partition(self._fitting(chunks), member_of, self.settings.cluster_partitions)
        now = time.time()
        full = self.room()
        touched: list[_Gathering] = []
        for p, group in groups.items():
            queue = self._gathering.setdefault(p, collections.deque())
            for chunk in group:
                # A partition's messages stay below CLUSTER_PUBLISH_BYTES (and NATS's
                # max_payload) however long its message in flight takes: a full one waits
                # whole behind it, the next one gathers.
                size = len(chunk[3]) + len(chunk[1]) + CHUNK_COLUMNS
                if not queue or (queue[-1].size + size > full and queue[-1].chunks):
                    # Due from the chunk's receipt: the time it waited in the collector
                    # counts (a receipt time that is no time counts as now).
                    received = chunk[2]
                    since = received if now - 60 < received <= now else now
                    queue.append(_Gathering(since=since))
                gathering = queue[-1]
                gathering.chunks.append(chunk)
                gathering.size += size
                self._pending_bytes += size
                if not touched or touched[-1] is not gathering:
                    touched.append(gathering)
        delivery = Delivery(len(touched))
        for gathering in touched:
            gathering.deliveries.append(delivery)
        self.stats.chunks += len(chunks)
        self._changed.set()
        return delivery

    async def publish(self, chunks: Sequence[Chunk], member_of: MemberOf) -> None:
        """Return once every chunk is acknowledged by JetStream (retrying until it is)."""
        await (await self.add(chunks, member_of)).done

    async def drain(self) -> None:
        """Send everything gathered at once and return when all of it is acknowledged."""
        self._draining = True
        self._changed.set()
        while self._gathering or self._in_flight:
            self._changed.clear()
            await self._changed.wait()

    async def _send_due(self) -> None:
        """Start each partition's message once it is due and the partition has none in
        flight; sleep until the next one is due or something changes."""
        window = self.settings.cluster_publish_seconds
        while True:
            self._changed.clear()
            full = self.room()
            now = time.time()
            wake = math.inf
            for p in list(self._gathering):
                if p in self._in_flight:
                    continue
                queue = self._gathering[p]
                due = queue[0].since + window
                if due <= now or len(queue) > 1 or queue[0].size >= full or self._draining:
                    gathering = queue.popleft()
                    if not queue:
                        del self._gathering[p]
                    self._in_flight[p] = asyncio.create_task(self._one(p, gathering))
                else:
                    wake = min(wake, due)
            timeout = None if math.isinf(wake) else max(0.0, wake - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    async def _one(self, partition: int, gathering: _Gathering) -> None:
        subject = raw_subject(self.settings, partition)
        started = time.monotonic()
        try:
            messages = [gathering.chunks]
            while messages:
                chunks = messages.pop(0)
                if not await self._send(subject, chunks):
                    # Longer than the server now takes (it reconnected to one with a lower
                    # max_payload): cut again to the new limit, in order.
                    messages[:0] = self._cut(chunks)
            self.stats.publish_s += time.monotonic() - started
            for delivery in gathering.deliveries:
                delivery.acknowledged()
        finally:
            del self._in_flight[partition]
            self._pending_bytes -= gathering.size
            self._changed.set()

    async def _send(self, subject: str, chunks: list[Chunk]) -> bool:
        """Publish one message until JetStream acknowledges it (True), or until the client
        refuses it as longer than the server's ``max_payload`` (False)."""
        payload = encode_chunks(chunks)
        headers = {"Nats-Msg-Id": f"{self._name}-{next(self._ids)}"}
        pause = 0.05
        while True:
            try:
                await self.js.publish(subject, payload, timeout=ATTEMPT_TIMEOUT_S, headers=headers)
                break
            except MaxPayloadError:
                log.warning("message of %d bytes too long for %s: cut again", len(payload), subject)
                return False
            except Exception as exc:  # NATS away or electing a leader: try again, never drop
                self.stats.publish_retries += 1
                log.warning("publish to %s failed (%s); retrying", subject, type(exc).__name__)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
        self.stats.messages += 1
        self.stats.bytes += len(payload)
        return True

    def _cut(self, chunks: list[Chunk]) -> list[list[Chunk]]:
        """``chunks`` as messages that fit the current limit, in order."""
        room = message_room(self._max_payload())
        messages: list[list[Chunk]] = [[]]
        size = 0
        for chunk in self._fitting(chunks):
            length = len(chunk[3]) + len(chunk[1]) + CHUNK_COLUMNS
            if messages[-1] and size + length > room:
                messages.append([])
                size = 0
            messages[-1].append(chunk)
            size += length
        return [m for m in messages if m]


class EdgeHttp:
    """The API's ingest sink on an edge: answered once JetStream acknowledged the lines."""

    def __init__(self, edge: EdgeDaemon) -> None:
        self._edge = edge
        self.accepting = True

    async def send(self, device_id: str, data: bytes) -> None:
        if not self.accepting:
            raise IngestUnavailableError("the edge is stopping")
        await self._edge.devices.know(device_id)
        lines, _ = drop_heartbeats(data if data.endswith(b"\n") else data + b"\n")
        room = self._edge.publisher.line_room(device_id)
        if len(lines) > room and longest_line(lines) > room:
            # Refused whole before anything is published: a body is a complete upload.
            self._edge.publisher.stats.oversized_bodies_refused += 1
            raise IngestTooLargeError(
                f"a line of this body is longer than one cluster message can carry ({room} "
                "bytes, the NATS servers' max_payload less the message's own): nothing was "
                "taken; post NMEA lines, each well under that"
            )
        if lines:
            chunk = ("http", device_id, time.time(), lines)
            await self._edge.publisher.publish([chunk], self._edge.member_of)

    def status(self) -> dict[str, object]:
        return self._edge.status()

    def device_lines(self, device_id: str) -> dict[str, int] | None:
        return None  # decoded by the processing nodes, not here

    async def revoke(self, device_id: str) -> None:
        await self._edge.sources.revoke(device_id)


class EdgeDaemon(Daemon):
    """The daemon's sources and collector, publishing instead of processing."""

    def __init__(self, *args: Any, publisher: Publisher, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publisher = publisher
        self._mqtt: list[MqttSource] = []

    async def start(self) -> None:
        self.devices.use(await self._read(load_directory))
        # HTTP ingest publishes on its own (EdgeHttp), not through the collector; MQTT is
        # opened here, acknowledging each message to the broker once JetStream has it.
        mqtt, self.plan = self.plan.mqtt, replace(self.plan, http=False, mqtt=None)
        self.http = EdgeHttp(self)  # type: ignore[assignment]
        self.writer.start()
        self.publisher.start()
        await self._open_sources({})  # no pipeline: replayed logs are not resumed here
        if mqtt is not None:
            await self._open_mqtt(*mqtt)
        self._processor = self.tasks.start(self._process(), "publish")
        self.tasks.every(
            self.settings.ingest_directory_refresh_seconds, self.devices.refresh, "edge"
        )

    async def _open_mqtt(self, host: str, port: int) -> None:
        source = self.sources.mqtt(host, port, ack_when_delivered=True)
        self._mqtt.append(source)
        await self.sources.add(source, "mqtt")

    async def stop(self) -> None:
        await super().stop()
        await self.publisher.close()

    async def directory_changed(self, revoked: frozenset[str]) -> None:
        """Devices, members or organisations changed on some node: the directory is read again
        now (a device's member decides its partition), revoked devices' sessions end."""
        await self.devices.refresh()
        for uid in revoked:
            self.sources.disconnect(uid)

    def member_of(self, uid: str) -> int | None:
        entry = self.devices.directory.by_uid.get(uid)
        return entry.member_id if entry is not None else None

    async def _process(self) -> None:
        while True:
            intake = await self.collector.take(idle_s=1.0)
            await self._publish(intake)
            if intake.final:
                await self.publisher.drain()
                return

    async def _publish(self, intake: Intake) -> None:
        active = self.devices.directory.active
        chunks = [
            (a.source, c.device_id, c.received_at, c.data)
            for a in intake.arrivals
            for c in a.chunks
            if active(c.device_id) is not None
        ]
        delivery = await self.publisher.add(chunks, self.member_of)
        mqtt = [c for a in intake.arrivals if a.source == "mqtt" for c in a.chunks]
        if mqtt and self._mqtt:
            # Chunks of devices dropped above are acknowledged with the rest: dropping them
            # is the answer.
            delivery.done.add_done_callback(lambda _: self._delivered(mqtt))

    def _delivered(self, chunks: list[RawChunk]) -> None:
        for source in self._mqtt:
            source.delivered(chunks)
