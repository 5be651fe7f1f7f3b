"""The ingestion daemon: sources on the event loop, the pipeline on its own thread (decoding in
a child process, :mod:`gnss.epoch.process`, unless ``INGEST_DECODER_PROCESS`` is off), the store
on another.

::

    sources ──pump──▶ Collector ──Intake──▶ pipeline thread: ingest() ──StoreBatch──▶
        StoreWriter (bounded buffer, writer thread: one transaction per batch) ──▶ LiveFeed

The event loop only moves bytes (sockets, ports, files, the API's HTTP requests), so it keeps
serving while the CPU-bound stages run on the pipeline thread; a device's chunks stay in order
from its source to the store. Backpressure runs the other way: a full write buffer blocks the
pipeline thread, the collector stops taking chunks, the sources' channels fill and they stop
reading. :meth:`Daemon.stop` (SIGTERM) closes the sources, lets the pipeline finish what they
delivered — closing every device's open epoch but the replayed logs', which resume from it —
and commits everything before returning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.ingest import IngestUnavailableError
from gnss.epoch.batch import BatchDecoder
from gnss.epoch.process import DecoderProcess
from gnss.model import RawChunk
from gnss.nmea.framing import LineBuffer
from gnss.sources import (
    GpsdSource,
    MemorySource,
    MqttSource,
    ReplaySource,
    SerialSource,
    SourceStats,
    TcpSource,
    Verdict,
)
from gnss.sources.base import ChannelSource
from gnss.sources.lines import drop_heartbeats
from partymap.ingest.alarms import Alarms
from partymap.ingest.batching import Collector
from partymap.ingest.directory import Directory, load_directory, verify_in_store
from partymap.ingest.handover import Handover, Receipt, set_aside, settle
from partymap.ingest.jt808 import Jt808Server, daemon_server
from partymap.ingest.metrics import IngestCollector, IngestStats, Jt808Collector
from partymap.ingest.pipeline import (
    Clock,
    Intake,
    Stages,
    StoreBatch,
    by_device,
    ingest,
    lines_in,
)
from partymap.ingest.sources import SourcePlan
from partymap.ingest.startup import changed_site_index, load_state
from partymap.ingest.writer import StoreWriter
from partymap.settings import Settings
from store.db import make_sessionmaker
from store.live import LiveFeed

log = logging.getLogger(__name__)

T = TypeVar("T")


class HttpBodies(MemorySource):
    """HTTP-posted NMEA: each body is a complete upload, framed on its own (its last line needs
    no line break; no line continues in the next post), counted as the source ``http``."""

    def body(self, device_id: str, data: bytes) -> RawChunk | None:
        """The body's lines as one chunk (None: it holds no line to decode)."""
        buffer = LineBuffer()
        block = self._frame(buffer, data)
        if buffer.pending:
            block += buffer.take_complete(b"\n")
        block, heartbeats = drop_heartbeats(block)
        self.stats.heartbeats += heartbeats
        offset = self._offsets[device_id] = self._offsets.get(device_id, 0) + len(data)
        return RawChunk(device_id, block, time.time(), offset) if block else None

    async def emit(self, chunk: RawChunk) -> None:
        """Hand ``chunk`` on, waiting while the pipeline is behind."""
        await self._emit(chunk)


class HttpIngest:
    """The API's ingest sink (``IngestSink``): posted NMEA enters the pipeline like any other
    source's, and :meth:`send` returns once the body's fixes are committed.

    A body is a complete upload: the batch that takes it closes the device's open epoch (as a
    stream's end does), so every fix of its lines is stored by the time :meth:`send` returns —
    about one batch age (``INGEST_BATCH_SECONDS``) plus a commit later, longer while the
    pipeline is behind (the post waits: backpressure)."""

    def __init__(self, daemon: Daemon, source: HttpBodies) -> None:
        self._daemon = daemon
        self.source = source
        self.accepting = True

    async def send(self, device_id: str, data: bytes) -> None:
        if not self.accepting:
            raise IngestUnavailableError("the ingestion daemon is stopping")
        if not self._daemon.running:
            raise IngestUnavailableError("the ingestion pipeline is not running")
        # The API checked the token in the store: a device registered since the last refresh
        # must not have its lines dropped as unknown.
        await self._daemon.know(device_id)
        if device_id in self._daemon.stats.quarantined_devices:
            raise IngestUnavailableError("this device's lines are set aside (quarantined)")
        chunk = self.source.body(device_id, data)
        if chunk is None:
            return  # nothing in it to store
        receipt: Receipt = Future()
        self._daemon.collector.expect(chunk, receipt)
        await self.source.emit(chunk)
        stored = asyncio.wrap_future(receipt)
        failed = asyncio.ensure_future(self._failed())
        try:
            await asyncio.wait([stored, failed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            failed.cancel()
        if not stored.done():
            stored.cancel()
            raise IngestUnavailableError("the ingestion pipeline failed before storing them")
        if stored.exception() is not None:  # refused by the store, or set aside
            raise IngestUnavailableError(f"they were not stored ({stored.exception()})")

    async def _failed(self) -> int:
        await self._daemon.failed.wait()
        return 0

    def status(self) -> dict[str, object]:
        return self._daemon.status()

    def device_lines(self, device_id: str) -> dict[str, int] | None:
        return dict(sorted(self._daemon.stats.device_lines.get(device_id, {}).items()))

    async def revoke(self, device_id: str) -> None:
        await self._daemon.revoke(device_id)


class Daemon:
    """``async with Daemon(...)`` runs it; leaving (or :meth:`stop`) stops it cleanly."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        plan: SourcePlan,
        *,
        live: LiveFeed | None = None,
        registry: CollectorRegistry | None = None,
        clock: Clock = "wall",
        close_timeout_s: float = 30.0,
    ) -> None:
        """The daemon for ``plan``, storing through ``engine``. ``clock="stream"`` ends silent
        members' visits by the newest fix time instead of the wall clock (a log replayed
        faster than it was recorded)."""
        self.settings = settings
        self.plan = plan
        self.live = live if live is not None else LiveFeed()
        self.clock: Clock = clock
        self.close_timeout_s = close_timeout_s
        self.stats = IngestStats()
        self.sessions = make_sessionmaker(engine)
        self.collector = Collector(
            max_lines=settings.ingest_batch_lines,
            max_bytes=settings.ingest_batch_bytes,
            max_wait_s=settings.ingest_batch_seconds,
        )
        # The writer reads (the newest position id) before it writes: on SQLite its transactions
        # take the write lock first, or a commit by the API in between fails them at once.
        self.writer = StoreWriter(
            make_sessionmaker(engine, immediate=True),
            stats=self.stats,
            committed=self._committed,
            refused=lambda batch, error: settle(batch.receipts, error),
            capacity_fixes=settings.ingest_buffer_fixes,
            retry_max_s=settings.ingest_retry_max_seconds,
        )
        self.sources: list[ChannelSource] = []
        self.tcp: TcpSource | None = None
        self.http: HttpIngest | None = None
        # Where sources of decoded fixes (JT/T 808, phones) hand them over.
        self.handover = Handover(self.collector.hand, self._read, lambda: self.directory)
        self.alarms = Alarms(self.sessions, self.live, lambda: self.directory)
        self.jt808: Jt808Server | None = None
        self.stages: Stages | None = None
        self.directory = Directory()
        self.failure: BaseException | None = None
        self.failed = asyncio.Event()
        if registry is not None:
            registry.register(IngestCollector(self.stats, self.source_stats))
            registry.register(Jt808Collector(lambda: self.jt808))
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-pipeline")
        self._exits = contextlib.AsyncExitStack()
        self._pumps: list[asyncio.Task[None]] = []
        self._loops: list[asyncio.Task[None]] = []
        self._processor: asyncio.Task[None] | None = None
        self._directory_lock = asyncio.Lock()
        self._directory_at = -float("inf")
        self._stopping = False
        # Some device's data went through the pipeline since its last failed batch.
        self._worked = True

    async def __aenter__(self) -> Daemon:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """The pipeline is up and taking batches."""
        return self._processor is not None and not self._processor.done() and not self._stopping

    def status(self) -> dict[str, object]:
        """Ingestion's state for ``/healthz`` (see :meth:`api.ingest.IngestSink.status`)."""
        stats = self.stats
        if stats.pipeline_failed or self.failed.is_set():
            state = "failed"
        elif self._stopping:
            state = "stopping"
        else:
            state = "degraded" if stats.quarantined_devices else "running"

        def utc(seconds: float) -> str | None:
            return None if math.isnan(seconds) else datetime.fromtimestamp(seconds, UTC).isoformat()

        return {
            "state": state,
            "quarantined_devices": len(stats.quarantined_devices),
            "lines_quarantined": sum(stats.lines_quarantined.values()),
            # Caught up when the backlog is 0 and the newest stored fix is the newest sent.
            "newest_fix_time": utc(stats.newest_fix_s),
            "newest_received_at": utc(stats.newest_received_s),
            "backlog_lines": self.collector.backlog(),
            "buffered_fixes": stats.buffered_fixes,
        }

    def source_stats(self) -> list[SourceStats]:
        return [source.stats for source in self.sources]

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        keys = [spec.key for spec in self.plan.replay]
        loaded = await self._read(lambda session: load_state(session, replay_keys=keys))
        self._use_directory(loaded.directory)
        self.stages = Stages(
            self.directory,
            loaded.sites,
            stats=self.stats,
            decoder=DecoderProcess() if self.settings.ingest_decoder_process else BatchDecoder(),
            clock=self.clock,
            expire_every_s=self.settings.ingest_expire_seconds,
        )
        self.stats.site_set_version = loaded.sites.version
        self.stats.sites = len(loaded.sites.index)
        self.writer.start()
        try:
            await self._open_sources(loaded.offsets)
        except BaseException:
            await self._exits.aclose()
            self.writer.close(0)
            self._close_decoder()
            raise
        self._processor = self._watch(asyncio.create_task(self._process(), name="ingest"))
        self._loops = [
            self._watch(asyncio.create_task(self._every(s, fn), name=f"ingest {fn.__name__}"))
            for s, fn in (
                (self.settings.ingest_directory_refresh_seconds, self.refresh_directory),
                (self.settings.ingest_sites_refresh_seconds, self.refresh_sites),
            )
        ]

    async def sources_done(self) -> None:
        """Return when every source has ended (only logs ever do)."""
        await asyncio.gather(*self._pumps)

    async def stop(self) -> None:
        """Close the sources, process and store what they delivered, stop."""
        if self._stopping:
            return
        self._stopping = True
        if self.http is not None:
            self.http.accepting = False
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._processor is None or self._processor.done():
            # Nobody takes from the collector any more: pumps waiting for room would wait
            # forever (and so would this stop).
            for pump in self._pumps:
                pump.cancel()
        await self._exits.aclose()  # the sources close; their pumps drain what they hold
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self._processor is not None and not self._processor.done():
            self.collector.finish()
            # Bounded: a pipeline stuck in a bug must not keep the process from exiting.
            await asyncio.wait({self._processor}, timeout=self.close_timeout_s)
        await asyncio.to_thread(self.writer.close, self.close_timeout_s)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._close_decoder()

    def _close_decoder(self) -> None:
        if self.stages is not None and isinstance(self.stages.decoder, DecoderProcess):
            self.stages.decoder.close()

    # -- sources ------------------------------------------------------------------------------

    async def _open_sources(self, offsets: dict[str, int]) -> None:
        plan, settings = self.plan, self.settings
        assert self.stages is not None
        if plan.http:
            memory = HttpBodies(name="http", queue_size=1024)
            self.http = HttpIngest(self, memory)
            await self._add(memory, "http")
        if plan.tcp_port is not None:
            self.tcp = TcpSource(
                self.authenticate,
                host=plan.tcp_host,
                port=plan.tcp_port,
                idle_timeout_s=settings.ingest_tcp_idle_timeout_seconds,
                registration_timeout_s=settings.ingest_tcp_registration_timeout_seconds,
                max_connections=settings.ingest_tcp_max_connections,
            )
            await self._add(self.tcp, "tcp")
        if plan.jt808_port is not None:
            self.jt808 = daemon_server(self, plan.jt808_host, plan.jt808_port)
            await self._exits.enter_async_context(self.jt808)
        if plan.mqtt is not None:
            host, port = plan.mqtt
            password = settings.ingest_mqtt_password
            mqtt = MqttSource(
                self.is_known,
                host=host,
                port=port,
                username=settings.ingest_mqtt_username,
                password=password.get_secret_value() if password else None,
                client_id=settings.ingest_mqtt_client_id,
            )
            await self._add(mqtt, "mqtt")
        for spec in plan.serial:
            self._warn_unknown(spec.device_id)
            await self._add(
                SerialSource(spec.path, spec.device_id, baudrate=spec.baudrate), "serial"
            )
        for gpsd in plan.gpsd:
            self._warn_unknown(gpsd.device_id)
            relay = GpsdSource(gpsd.device_id, host=gpsd.host, port=gpsd.port, device=gpsd.receiver)
            await self._add(relay, "gpsd")
        for replay in plan.replay:
            self._warn_unknown(replay.device_id)
            offset = offsets.get(replay.key, 0)
            self.stages.resume.start(replay.key, replay.device_id, offset=offset)
            log_source = ReplaySource(
                replay.path, replay.device_id, speed=replay.speed, start_offset=offset
            )
            # A log's end closes its last epoch; paced replays' chunks arrive when they are due.
            await self._add(
                log_source, "replay", timed=replay.speed is not None, ends=replay.device_id
            )

    async def _add(
        self, source: ChannelSource, label: str, *, timed: bool = True, ends: str | None = None
    ) -> None:
        await self._exits.enter_async_context(source)
        self.sources.append(source)
        pump = self.collector.pump(source, label, timed=timed, device_id=ends)
        self._pumps.append(self._watch(asyncio.create_task(pump, name=f"pump {source.name}")))

    def _warn_unknown(self, device_id: str) -> None:
        if self.directory.active(device_id) is None:
            log.warning(
                "device %s is not registered (or inactive): its lines are dropped", device_id
            )

    # -- devices ------------------------------------------------------------------------------

    async def authenticate(self, device_id: str, token: str) -> Verdict:
        """A TCP registration: answered from the directory, else by the store."""
        if self.directory.check_token(device_id, token):
            return Verdict.ACCEPTED
        verdict = await self._read(lambda session: verify_in_store(session, device_id, token))
        if verdict is Verdict.ACCEPTED:
            await self.refresh_directory()
        return verdict

    async def revoke(self, device_id: str) -> None:
        """The device's token was rotated or the device deactivated: the directory is read
        again now (a deactivated device's lines are dropped from the next batch on) and its
        open sessions end on every transport (TCP and JT/T 808 close their connections; MQTT asks
        again)."""
        await self.refresh_directory()
        if self.tcp is not None:
            self.tcp.disconnect(device_id)
        if self.jt808 is not None:
            self.jt808.disconnect(device_id)
        for source in self.sources:
            if isinstance(source, MqttSource):
                source.forget(device_id)

    async def is_known(self, device_id: str) -> bool:
        """An MQTT publisher: a device partymap knows and that is active."""
        return await self.know(device_id)

    async def know(self, device_id: str) -> bool:
        """Whether the device is known and active, refreshing the directory on a miss."""
        if self.directory.active(device_id) is not None:
            return True
        await self.refresh_directory()
        return self.directory.active(device_id) is not None

    async def refresh_directory(self) -> None:
        asked = time.monotonic()
        async with self._directory_lock:
            if self._directory_at >= asked:
                return  # a load that began after we asked finished while we waited
            began = time.monotonic()
            self._use_directory(await self._read(load_directory))
            self._directory_at = began

    def _use_directory(self, directory: Directory) -> None:
        self.directory = directory
        self.stats.directory_devices = len(directory)
        if self.stages is not None:
            self.stages.next_directory = directory

    async def refresh_sites(self) -> None:
        """Load a new site index when the site set's version moved (built off the loop)."""
        assert self.stages is not None
        sites = self.stages.sites
        version = sites.next[0] if sites.next is not None else sites.version
        new = await self._read(lambda session: changed_site_index(session, version))
        if new is not None:
            log.info("site set version %d: %d sites", new[0], len(new[1]))
            sites.next = new

    # -- the pipeline -------------------------------------------------------------------------

    async def _process(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.settings
        idle_s = min(settings.ingest_expire_seconds, settings.ingest_sites_refresh_seconds)
        while True:
            intake = await self.collector.take(idle_s=idle_s)
            await loop.run_in_executor(self._executor, self._ingest, intake)
            if intake.final:
                return

    def _ingest(self, intake: Intake) -> None:
        assert self.stages is not None
        self.stages.live_positions = self.live.subscribers > 0
        started = time.thread_time()
        try:
            batches = [ingest(self.stages, intake)]
            self._worked = self._worked or any(a.chunks for a in intake.arrivals)
        except Exception:
            log.exception("a batch failed: its devices are taken one by one")
            batches = self._ingest_apart(intake)
        self.stats.pipeline_s += time.thread_time() - started
        for batch in batches:
            if batch.fixes or batch.events or batch.offsets or batch.presence or batch.receipts:
                self.writer.put(batch)  # blocks while the buffer is full: backpressure

    def _ingest_apart(self, intake: Intake) -> list[StoreBatch]:
        """A failed batch device by device: a device whose data fails again on its own is
        quarantined (its lines are set aside and counted from then on); the others go on. When
        every device fails and no other device's data got through since the last failure, the
        fault is not in their data: it is raised and stops the daemon."""
        assert self.stages is not None
        self.stats.batches_failed += 1
        parts = by_device(intake)
        done, failed = [], []
        for device_id, part in parts.items():
            try:
                done.append(ingest(self.stages, part))
            except Exception:
                failed.append(device_id)
                log.exception("device %s quarantined: a batch fails on its data", device_id)
                self.stats.quarantined_devices.add(device_id)
                for arrival in part.arrivals:
                    self.stats.lines_quarantined[arrival.source] += lines_in(arrival.chunks)
                # Set aside, not stored: the poster is not told they were.
                settle([(receipt, 0) for _, receipt in part.posted], RuntimeError("quarantined"))
                set_aside(part.handed)
        if failed and len(failed) == len(parts) and (len(parts) > 1 or not self._worked):
            raise RuntimeError(f"a batch fails for every one of its {len(parts)} devices")
        self._worked = len(failed) < len(parts)
        return done

    def _committed(self, batch: StoreBatch) -> None:
        settle(batch.receipts)
        if batch.live:
            self.live.publish_many(tuple(batch.live))

    # -- helpers ------------------------------------------------------------------------------

    async def _read(self, read: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.sessions() as session:
                return read(session)

        return await asyncio.to_thread(run)

    async def _every(self, period_s: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                await action()
            except Exception as exc:  # the store away: keep what we have, try again later
                log.warning("%s failed (%s: %s)", action.__name__, type(exc).__name__, exc)

    def _watch(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        """A task whose failure (a bug or bad configuration) fails the daemon loudly."""

        def done(task: asyncio.Task[None]) -> None:
            if task.cancelled() or task.exception() is None:
                return
            self.failure = self.failure or task.exception()
            self.stats.pipeline_failed = True
            log.error("%s failed", task.get_name(), exc_info=task.exception())
            self.failed.set()

        task.add_done_callback(done)
        return task
