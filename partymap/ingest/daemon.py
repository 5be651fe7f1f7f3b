"""The ingestion daemon: sources on the event loop, the pipeline on its own thread (decoding in
a child process, :mod:`gnss.epoch.process` under :mod:`partymap.ingest.supervisor`, unless
``INGEST_DECODER_PROCESS`` is off), the store on another.

::

    sources ──pump──▶ Collector ──Intake──▶ pipeline thread: ingest() ──StoreBatch──▶
        StoreWriter (bounded buffer, writer thread: one transaction per batch) ──▶ LiveFeed

:class:`Daemon` composes parts with one job each: :class:`~partymap.ingest.devices.Devices`
(the directory and authentication), :class:`~partymap.ingest.sourceset.SourceSet` (the
sources and their pumps into the :class:`~partymap.ingest.batching.Collector`, and the
sessions a revoked device loses), :class:`~partymap.ingest.runner.PipelineRunner` (the pipeline
thread over the :class:`~partymap.ingest.pipeline.Pipeline`'s stages),
:class:`~partymap.ingest.supervisor.DecoderSupervisor` (the decoder process), the
:class:`~partymap.ingest.writer.StoreWriter`, and :class:`~partymap.ingest.tasks.Tasks` (the
refresh loops, and a failure of any task failing the daemon). Refreshes hand a new directory
or site set to the stage that owns it, which picks it up between batches.

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
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from geo.quality.replay_guard import ReplayGuard
from gnss.epoch.batch import BatchDecoder
from partymap.ingest.alarms import Alarms
from partymap.ingest.batching import Collector
from partymap.ingest.devices import Devices
from partymap.ingest.handover import Handover, settle
from partymap.ingest.http import HttpIngest
from partymap.ingest.intake import Clock, Intake, StoreBatch
from partymap.ingest.jt808 import daemon_server
from partymap.ingest.metrics import IngestCollector, IngestStats, Jt808Collector
from partymap.ingest.pipeline import Pipeline
from partymap.ingest.runner import PipelineRunner
from partymap.ingest.sources import SourcePlan
from partymap.ingest.sourceset import SourceSet
from partymap.ingest.stages.presence import Sites
from partymap.ingest.startup import StoreReader, changed_site_index, load_state
from partymap.ingest.supervisor import DecoderSupervisor
from partymap.ingest.tasks import Tasks
from partymap.ingest.writer import StoreWriter
from partymap.settings import Settings
from store.db import make_sessionmaker
from store.live import LiveFeed

log = logging.getLogger(__name__)


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
        self._read = StoreReader(self.sessions)
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
        self.tasks = Tasks(self.stats)
        self.devices = Devices(self._read, self.stats)
        self.sources = SourceSet(settings, self.collector, self.devices, self.tasks.watch)
        self.http: HttpIngest | None = None
        # Where sources of decoded fixes (JT/T 808, phones) hand them over.
        self.handover = Handover(self.collector.hand, self._read, lambda: self.devices.directory)
        self.alarms = Alarms(self.sessions, self.live, lambda: self.devices.directory)
        self.pipeline: Pipeline | None = None
        self.runner: PipelineRunner | None = None
        self.decoder: DecoderSupervisor | None = None  # the decoder process, when there is one
        if registry is not None:
            registry.register(IngestCollector(self.stats, self.sources.stats))
            registry.register(Jt808Collector(lambda: self.sources.jt808))
        self._processor: asyncio.Task[None] | None = None
        self._stopping = False

    async def __aenter__(self) -> Daemon:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def failed(self) -> asyncio.Event:
        """Set when a task of the daemon failed (see :attr:`failure`)."""
        return self.tasks.failed

    @property
    def failure(self) -> BaseException | None:
        """What failed the daemon: the first failed task's exception, or what the code
        running it sets (the HTTP server could not start); ``partymap serve`` then exits 1."""
        return self.tasks.failure

    @failure.setter
    def failure(self, failure: BaseException | None) -> None:
        self.tasks.failure = failure

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

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        keys = [spec.key for spec in self.plan.replay]
        loaded = await self._read(lambda session: load_state(session, replay_keys=keys))
        self.devices.use(loaded.directory)
        pipeline = self._build_pipeline(loaded.sites)
        self.writer.start()
        try:
            await self._open_sources(loaded.offsets)
        except BaseException:
            self.sources.abandon_pumps()  # nobody will take what they hold
            await self.sources.close()
            self.writer.close(0)
            if self.decoder is not None:
                self.decoder.close()
            raise
        self._start_pipeline(pipeline)

    def _build_pipeline(
        self,
        sites: Sites,
        *,
        guard: ReplayGuard | None = None,
        watched: Callable[[], bool] | None = None,
        decoder: BatchDecoder | None = None,
    ) -> Pipeline:
        """The stages from the directory in use and ``sites``; they follow later directories.
        ``watched``: whether anyone watches the live positions (default: the live feed's
        subscribers); ``decoder``: one in this process, instead of what the settings say (a
        decoder process, by default)."""
        if decoder is None and self.settings.ingest_decoder_process:
            self.decoder = DecoderSupervisor()
        pipeline = Pipeline.build(
            self.devices.directory,
            sites,
            stats=self.stats,
            decoder=self.decoder or decoder or BatchDecoder(),
            clock=self.clock,
            expire_every_s=self.settings.ingest_expire_seconds,
            guard=guard,
            watched=watched if watched is not None else lambda: self.live.subscribers > 0,
        )
        self.devices.follow(pipeline.admission.offer)
        self.pipeline = pipeline
        return pipeline

    def _start_pipeline(self, pipeline: Pipeline) -> None:
        """The pipeline thread, and the loops refreshing the directory and the site set."""
        self.runner = PipelineRunner(pipeline, self.writer, self.stats)
        self._processor = self.tasks.start(self._process(), "ingest")
        settings = self.settings
        self.tasks.every(settings.ingest_directory_refresh_seconds, self.devices.refresh, "ingest")
        self.tasks.every(settings.ingest_sites_refresh_seconds, self.refresh_sites, "ingest")

    async def stop(self) -> None:
        """Close the sources, process and store what they delivered, stop."""
        if self._stopping:
            return
        self._stopping = True
        if self.http is not None:
            self.http.accepting = False
        await self.tasks.stop_loops()
        if self._processor is None or self._processor.done():
            self.sources.abandon_pumps()  # or this stop would wait for them forever
        await self.sources.close()
        if self._processor is not None and not self._processor.done():
            self.collector.finish()
            # Bounded: a pipeline stuck in a bug must not keep the process from exiting.
            await asyncio.wait({self._processor}, timeout=self.close_timeout_s)
        await asyncio.to_thread(self.writer.close, self.close_timeout_s)
        if self.runner is not None:
            self.runner.close()
        if self.decoder is not None:
            self.decoder.close()

    # -- sources ------------------------------------------------------------------------------

    async def _open_sources(self, offsets: dict[str, int]) -> None:
        def resume(key: str, device_id: str, offset: int) -> None:
            if self.pipeline is not None:
                self.pipeline.decoding.resume.start(key, device_id, offset=offset)

        await self.sources.open(
            self.plan, offsets, resume=resume, jt808=lambda h, p: daemon_server(self, h, p)
        )
        if self.sources.http is not None:
            self.http = HttpIngest(self, self.sources.http)

    # -- the site set ------------------------------------------------------------------------

    async def refresh_sites(self) -> None:
        """Load a new site index when the site set's version moved (built off the loop)."""
        assert self.pipeline is not None
        presence = self.pipeline.presence
        version = presence.latest_version()
        new = await self._read(lambda session: changed_site_index(session, version))
        if new is not None:
            log.info("site set version %d: %d sites", new[0], len(new[1]))
            presence.offer(*new)

    # -- the pipeline -------------------------------------------------------------------------

    async def _process(self) -> None:
        assert self.runner is not None
        settings = self.settings
        idle_s = min(settings.ingest_expire_seconds, settings.ingest_sites_refresh_seconds)
        await self.runner.run(self.collector, idle_s, self._ingest)

    def _ingest(self, intake: Intake) -> None:
        """One intake on the pipeline thread (:class:`~partymap.cluster.consume.PartitionDaemon`
        has its own)."""
        assert self.runner is not None
        self.runner.ingest(intake)

    def _committed(self, batch: StoreBatch) -> None:
        settle(batch.receipts)
        if batch.live:
            self.live.publish_many(tuple(batch.live))
