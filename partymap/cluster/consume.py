"""A worker's pipeline over the partitions it holds: the daemon, fed from the stream.

:class:`PartitionDaemon` is the single process's daemon with the stream as its only source and
two differences: every device's stream is resumable (a device's position in the stream is
``seq << 24 | byte``, and :class:`~partymap.ingest.offsets.ResumePoints` finds the first byte of
its open epoch, exactly as for a replayed log), and each transaction ends with every touched
partition's newest sequence and moved resume positions, fenced by the generation the worker
took the partition over with (:func:`store.partitions.commit_partition`).

On takeover a partition is read again from its oldest resume position: bytes before a device's
resume position in messages already stored are skipped, so the open epochs are completed and
nothing stored is stored again (every fix exactly once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from geo.quality.replay_guard import ReplayGuard
from gnss.epoch.batch import BatchDecoder
from gnss.model import RawChunk
from gnss.sources.base import ChannelSource
from partymap.cluster.stream import decode_chunks, partition_key, partition_of, raw_subject
from partymap.ingest.daemon import Daemon
from partymap.ingest.directory import Directory, load_directory
from partymap.ingest.pipeline import Intake, Sites, StoreBatch, ingest
from partymap.ingest.presence_state import restore
from partymap.ingest.sources import SourcePlan
from partymap.ingest.startup import last_epoch_times, load_site_index
from partymap.ingest.writer import StoreWriter, write_batches
from partymap.settings import Settings
from store.partitions import BYTE_BITS, FencedError, PartitionState, commit_partitions
from store.presence import load_tracked_presence

log = logging.getLogger(__name__)

# The source labels edges publish (stored with the positions, as a single process would).
# A partition is read by one standing pull request at a time: up to PULL_BATCH messages,
# delivered as they are stored, asked again when they have come or the request expired. While
# it has nothing to deliver the server says so every PULL_HEARTBEAT_S; nothing at all for
# PULL_SILENCE_S means the request was lost (its consumer's server went away, or the stream's
# leader changed under a loaded cluster and dropped it without an answer): read again then,
# rather than wait for an expiry that will never be answered.
PULL_BATCH = 256
PULL_EXPIRES_S = 5.0
PULL_HEARTBEAT_S = 0.5
PULL_SILENCE_S = 2.0
LABELS = ("tcp", "mqtt", "http", "serial", "gpsd", "replay", "jt808", "stream")


class Relay(ChannelSource):
    """Chunks of one source label, handed in by the stream reader."""

    async def put(self, chunk: RawChunk) -> None:
        await self._emit(chunk)

    async def _produce(self) -> None:
        await asyncio.Event().wait()  # until the daemon closes it


class PullRequests:
    """The standing pull request of one consumer: asked again once it is used up or over."""

    def __init__(self, nc: Any, subject: str, inbox: str) -> None:
        self.nc = nc
        self.subject = subject
        self.inbox = inbox
        self.left = 0
        self._request = orjson.dumps(
            {
                "batch": PULL_BATCH,
                "expires": int(PULL_EXPIRES_S * 1e9),
                "idle_heartbeat": int(PULL_HEARTBEAT_S * 1e9),
            }
        )

    async def ask(self) -> None:
        self.left = PULL_BATCH
        await self.nc.publish(self.subject, self._request, reply=self.inbox)

    async def received(self) -> None:
        self.left -= 1
        if self.left == 0:
            await self.ask()

    async def answered(self, status: str, partition: int) -> None:
        """A status instead of a message: the request is over (or a heartbeat, ignored)."""
        if status == "100":
            return
        if status not in ("404", "408"):
            raise RuntimeError(f"partition {partition}: pull request answered {status}")
        await self.ask()


class SharedGuard(ReplayGuard):
    """The replay guard, whose own sentences go out to the other workers (``outbox``) and
    which takes in theirs (:meth:`remember`) before the next batch."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox: list[np.ndarray] = []
        self.inbox: list[np.ndarray] = []
        self.lock = threading.Lock()
        self.remote_s = 0.0
        self.remote_sentences = 0

    def check(self, hashes: Any, devices: Any, received_s: Any) -> Any:
        with self.lock:
            inbox, self.inbox = self.inbox, []
        if inbox:
            started = time.thread_time()
            table = np.concatenate(inbox)
            super().check(table["h"], table["d"], table["t"])
            self.remote_s += time.thread_time() - started
            self.remote_sentences += len(table)
        result = super().check(hashes, devices, received_s)
        hashes = np.asarray(hashes, np.int64)
        keep = hashes != 0
        if keep.any():
            out = np.empty(int(keep.sum()), GUARD_RECORD)
            out["h"], out["d"] = hashes[keep], np.asarray(devices)[keep]
            out["t"] = np.asarray(received_s, np.float64)[keep]
            self.outbox.append(out)
        return result

    def remember(self, payload: bytes) -> None:
        with self.lock:
            self.inbox.append(np.frombuffer(payload, GUARD_RECORD))


GUARD_RECORD = np.dtype([("h", "<i8"), ("d", "<i8"), ("t", "<f8")])


class FencedWriter(StoreWriter):
    """The store writer, ending each transaction with the partitions' positions."""

    def __init__(self, *args: Any, generations: dict[int, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generations = generations
        self.fenced = threading.Event()

    def _write(self, group: Sequence[StoreBatch]) -> None:
        per: dict[int, tuple[list[int], dict[str, int]]] = {}
        for batch in group:
            for key, value in batch.offsets.items():
                name, _, uid = key.partition(":")
                seq, resume = per.setdefault(int(name), ([0], {}))
                if uid:
                    resume[uid] = value
                else:
                    seq[0] = max(seq[0], value)
        try:
            with self._sessions() as session:
                write_batches(session, [replace(b, offsets={}) for b in group])
                commit_partitions(
                    session,
                    {p: (self.generations[p], seq[0], resume) for p, (seq, resume) in per.items()},
                )
                session.commit()
        except FencedError:
            self.fenced.set()
            raise


class StreamReader:
    """Reads the held partitions in order, from where each is stored, into the relays."""

    def __init__(
        self,
        nc: Any,
        settings: Settings,
        states: dict[int, PartitionState],
        relays: dict[str, Relay],
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.settings = settings
        self.states = states
        self.relays = relays
        self.partition_of_device: dict[str, int] = {}
        self.lag: dict[int, int] = dict.fromkeys(states, 0)
        self.read_to: dict[int, int] = {p: s.seq for p, s in states.items()}
        self.messages = 0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._read(p, state), name=f"partition {p}")
            for p, state in self.states.items()
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _read(self, partition: int, state: PartitionState) -> None:
        last = max(1, state.start_seq) - 1
        subject = raw_subject(self.settings, partition)
        stream = self.settings.cluster_stream
        while True:
            sub, consumer = None, None
            try:
                config = ConsumerConfig(
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=last + 1,
                    ack_policy=AckPolicy.NONE,
                    filter_subject=subject,
                    inactive_threshold=30.0,
                    mem_storage=True,
                    num_replicas=1,
                )
                inbox = self.nc.new_inbox()
                sub = await self.nc.subscribe(inbox)
                consumer = (await self.js.add_consumer(stream, config)).name
                next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
                pull = PullRequests(self.nc, next_subject, inbox)
                await pull.ask()
                while True:
                    msg = await sub.next_msg(timeout=PULL_SILENCE_S)
                    if msg.headers and msg.headers.get("Status"):
                        await pull.answered(msg.headers["Status"], partition)
                        if msg.headers["Status"] in ("404", "408"):
                            self.lag[partition] = 0
                        continue
                    seq = msg.metadata.sequence.stream
                    await pull.received()
                    if seq <= last:
                        continue
                    await self._deliver(partition, state, seq, msg.data)
                    last = seq
                    self.read_to[partition] = seq
                    self.lag[partition] = msg.metadata.num_pending
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a NATS server away: read again from the next message
                log.warning("partition %d: %r; reading again from %d", partition, exc, last + 1)
                await asyncio.sleep(0.5)
            finally:
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                if consumer is not None:
                    with contextlib.suppress(Exception):
                        await self.js.delete_consumer(stream, consumer)

    async def _deliver(self, partition: int, state: PartitionState, seq: int, data: bytes) -> None:
        self.messages += 1
        base = seq << BYTE_BITS
        used: dict[str, int] = {}
        stored = seq <= state.seq
        for label, uid, received_at, block in decode_chunks(data):
            start = base + used.get(uid, 0)
            end = start + len(block)
            used[uid] = end - base
            lines = block
            if stored:
                resume = state.resume.get(uid)
                if resume is None or resume >= end:
                    continue  # stored before the takeover
                if resume > start:
                    lines = block[resume - start :]
            self.partition_of_device[uid] = partition
            relay = self.relays.get(label, self.relays["stream"])
            await relay.put(RawChunk(uid, lines, received_at, end))


class PartitionDaemon(Daemon):
    """The daemon over the stream's held partitions (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        engine: Any,
        *,
        nc: Any,
        states: dict[int, PartitionState],
        live_out: Callable[[list[dict[str, Any]]], None],
        guard_out: Callable[[bytes], None],
        watched: Callable[[], bool] = lambda: True,
        **kwargs: Any,
    ) -> None:
        super().__init__(settings, engine, SourcePlan(http=False), **kwargs)
        self.states = states
        self.live_out = live_out
        self.guard_out = guard_out
        self.watched = watched
        self.guard = SharedGuard()
        self.writer = FencedWriter(
            self.writer._sessions,
            stats=self.stats,
            committed=self._committed,
            capacity_fixes=settings.ingest_buffer_fixes,
            retry_max_s=settings.ingest_retry_max_seconds,
            generations={p: s.generation for p, s in states.items()},
        )
        self.fenced = self.writer.fenced
        self.relays = {label: Relay(label, queue_size=1024) for label in LABELS}
        self.reader = StreamReader(nc, settings, states, self.relays)

    def owns(self, member_id: int) -> bool:
        p = partition_of(partition_key("", member_id), self.settings.cluster_partitions)
        return p in self.states

    async def start(self) -> None:
        directory, sites = await self._read(self._load)
        self.devices.use(directory)
        # Decoded on the pipeline thread, not in a decoder process: every device here is
        # resumable, and its resume position needs the decoder's open epoch after each batch —
        # one round trip to a decoder process per device and batch.
        pipeline = self._build_pipeline(
            sites, guard=self.guard, watched=self.watched, decoder=BatchDecoder()
        )
        self.writer.start()
        for label, relay in self.relays.items():
            await self.sources.add(relay, label)
        self.reader.start()
        self._start_pipeline(pipeline)

    def _load(self, session: Any) -> tuple[Directory, Sites]:
        """The directory, and the presence of the held partitions' members only."""
        directory = load_directory(session)
        version, index = load_site_index(session)
        saved = [t for t in load_tracked_presence(session) if self.owns(t.row.member_id)]
        last_seen = last_epoch_times(session, sorted({t.row.member_id for t in saved}))
        tracker, mirror, ended = restore(index, saved, last_seen)
        return directory, Sites(version, tracker, mirror, carried=list(ended))

    async def stop(self) -> None:
        await self.reader.stop()
        await super().stop()

    def _ingest(self, intake: Intake) -> None:
        s = self.pipeline
        assert s is not None
        directory, resume = s.admission.upcoming(), s.decoding.resume
        highs: dict[int, int] = {}
        for a in intake.arrivals:
            for c in a.chunks:
                assert c.offset is not None
                p = self.reader.partition_of_device[c.device_id]
                highs[p] = max(highs.get(p, 0), c.offset >> BYTE_BITS)
                if c.device_id not in resume and directory.active(c.device_id) is not None:
                    start = c.offset - len(c.data)
                    resume.start(f"{p}:{c.device_id}", c.device_id, offset=start)
        started = time.thread_time()
        batch = ingest(s, intake)
        self.stats.pipeline_s += time.thread_time() - started
        if self.guard.outbox:
            out, self.guard.outbox = self.guard.outbox, []
            self.guard_out(np.concatenate(out).tobytes())
        batch.offsets.update({f"{p}:": seq for p, seq in highs.items()})
        if batch.fixes or batch.events or batch.offsets or batch.presence:
            self.writer.put(batch)

    def _committed(self, batch: StoreBatch) -> None:
        super()._committed(batch)
        if batch.live:
            self.live_out(batch.live)
