"""The pipeline thread: intakes from the collector through :func:`ingest`, batches to the
writer, and a failing batch taken apart device by device (unless the decoder process died:
that fault is no device's)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from gnss.epoch.process import DecoderProcessError
from partymap.ingest.batching import Collector
from partymap.ingest.handover import set_aside, settle
from partymap.ingest.intake import Intake, StoreBatch, by_device, lines_in
from partymap.ingest.metrics import IngestStats
from partymap.ingest.pipeline import Pipeline, ingest
from partymap.ingest.writer import StoreWriter

log = logging.getLogger(__name__)


class PipelineRunner:
    """Runs the pipeline's batches on its one thread, so the event loop keeps serving while
    the CPU-bound stages work; a full write buffer blocks this thread (backpressure)."""

    def __init__(self, pipeline: Pipeline, writer: StoreWriter, stats: IngestStats) -> None:
        self.pipeline = pipeline
        self._writer = writer
        self._stats = stats
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-pipeline")
        # Some device's data went through the pipeline since its last failed batch.
        self._worked = True

    async def run(
        self, collector: Collector, idle_s: float, step: Callable[[Intake], None]
    ) -> None:
        """Take intakes until the final one, each through ``step`` on the pipeline thread."""
        loop = asyncio.get_running_loop()
        while True:
            intake = await collector.take(idle_s=idle_s)
            await loop.run_in_executor(self._executor, step, intake)
            if intake.final:
                return

    def ingest(self, intake: Intake) -> None:
        """One intake through the pipeline, its batches to the writer."""
        started = time.thread_time()
        try:
            batches = [ingest(self.pipeline, intake)]
            self._worked = self._worked or any(a.chunks for a in intake.arrivals)
        except DecoderProcessError:
            # Every device's batch would fail the same way and be quarantined for it; the
            # daemon fails instead (see partymap.ingest.supervisor).
            raise
        except Exception:
            log.exception("a batch failed: its devices are taken one by one")
            batches = self._apart(intake)
        self._stats.pipeline_s += time.thread_time() - started
        for batch in batches:
            if batch.fixes or batch.events or batch.offsets or batch.presence or batch.receipts:
                self._writer.put(batch)  # blocks while the buffer is full: backpressure

    def _apart(self, intake: Intake) -> list[StoreBatch]:
        """A failed batch device by device: a device whose data fails again on its own is
        quarantined (its lines are set aside and counted from then on); the others go on. When
        every device fails and no other device's data got through since the last failure, the
        fault is not in their data: it is raised and stops the daemon."""
        stats = self._stats
        stats.batches_failed += 1
        parts = by_device(intake)
        done, failed = [], []
        for device_id, part in parts.items():
            try:
                done.append(ingest(self.pipeline, part))
            except Exception:
                failed.append(device_id)
                log.exception("device %s quarantined: a batch fails on its data", device_id)
                stats.quarantined_devices.add(device_id)
                for arrival in part.arrivals:
                    stats.lines_quarantined[arrival.source] += lines_in(arrival.chunks)
                # Set aside, not stored: the poster is not told they were.
                settle([(receipt, 0) for _, receipt in part.posted], RuntimeError("quarantined"))
                set_aside(part.handed)
        if failed and len(failed) == len(parts) and (len(parts) > 1 or not self._worked):
            raise RuntimeError(f"a batch fails for every one of its {len(parts)} devices")
        self._worked = len(failed) < len(parts)
        return done

    def close(self) -> None:
        """Drop the thread (a batch stuck in a bug is left behind)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
