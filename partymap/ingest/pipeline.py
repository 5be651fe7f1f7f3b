"""The ingestion pipeline: one micro-batch of NMEA from many devices, through every stage.

:func:`ingest` is the one place that lists the stages in order (STYLE rule 1)::

    sources → nmea → epochs → devices/members → quality → membership → presence → store
                handed-over fixes ↗ (JT/T 808, phones: :mod:`partymap.ingest.handover`)

Each stage is a small object of :mod:`partymap.ingest.stages` that owns the state it keeps
between batches: admission the device directory in force, decoding the decoder (its per-device
epochs) and the resume points of replayed logs, quality the devices' last accepted fixes and
the replay guard, presence the site set, the tracker and the mirror of the stored presence.
Everything here runs on the daemon's one pipeline thread; other threads only offer a newer
directory or site set, which the owning stage picks up between batches. The result, a
:class:`StoreBatch`, is what the writer commits in one transaction — positions, visits,
presence and replay offsets together — before the live feed hears of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from geo.quality.replay_guard import ReplayGuard
from gnss.epoch.batch import BatchDecoder
from partymap.ingest.directory import Directory
from partymap.ingest.intake import (
    Arrival,
    Carried,
    Clock,
    Event,
    Fixes,
    Intake,
    StoreBatch,
    by_device,
    lines_in,
)
from partymap.ingest.metrics import IngestStats
from partymap.ingest.stages.admission import Admission
from partymap.ingest.stages.decoding import Decoding
from partymap.ingest.stages.handed import HandedOver
from partymap.ingest.stages.presence import Presence, Sites, membership
from partymap.ingest.stages.quality import QualityCheck
from partymap.ingest.stages.storing import Storing
from partymap.ingest.supervisor import DecoderSupervisor

__all__ = [
    "Arrival",
    "Clock",
    "Event",
    "Fixes",
    "Intake",
    "Pipeline",
    "Sites",
    "StoreBatch",
    "by_device",
    "ingest",
    "lines_in",
]


def ingest(p: Pipeline, intake: Intake) -> StoreBatch:
    """Every stage of one micro-batch, in order."""
    directory = p.admission.current()  # the device directory in force for this batch
    arrivals = p.admission(intake.arrivals)  # sources: known, active devices only
    p.presence.hear(arrivals, directory, intake.now_s)  # liveness: each device's latest sign
    decoded = p.decoding(arrivals, p.decoding.closing(intake))  # nmea → epochs → fixes
    fixes = p.decoding.attribute(decoded, directory)  # fixes → devices and members
    fixes, receipts = p.handed(fixes, intake.handed, directory)  # + fixes decoded by sources
    reasons = p.quality(fixes.table, directory, intake.now_s)  # quality rules
    ended = p.presence.switch_sites()  # a new version of the site set, if one was offered
    carried = Carried.of(fixes, reasons)  # only carried devices' fixes move presence
    found = membership(carried, p.presence.index)  # membership
    events = ended + p.presence.step(carried, found, intake.now_s)  # presence
    changes, offsets = p.presence.changes(), p.decoding.safe_offsets(intake)  # → store
    batch = p.storing(fixes, reasons, events, intake, directory, presence=changes, offsets=offsets)
    batch.receipts = receipts + [(receipt, 0) for _, receipt in intake.posted]
    return batch


@dataclass(slots=True, eq=False)
class Pipeline:
    """The stages, each with its state."""

    admission: Admission
    decoding: Decoding
    handed: HandedOver
    quality: QualityCheck
    presence: Presence
    storing: Storing

    @classmethod
    def build(
        cls,
        directory: Directory,
        sites: Sites,
        *,
        stats: IngestStats | None = None,
        decoder: BatchDecoder | DecoderSupervisor | None = None,
        clock: Clock = "wall",
        expire_every_s: float = 5.0,
        guard: ReplayGuard | None = None,
        watched: Callable[[], bool] = lambda: True,
    ) -> Pipeline:
        """The stages starting from ``directory`` and ``sites``. ``watched``: whether anyone
        watches the live feed's positions, asked once a batch."""
        stats = stats if stats is not None else IngestStats()
        return cls(
            admission=Admission(directory, stats),
            decoding=Decoding(decoder if decoder is not None else BatchDecoder(), stats),
            handed=HandedOver(stats),
            quality=QualityCheck(guard),
            presence=Presence(sites, stats, clock=clock, expire_every_s=expire_every_s),
            storing=Storing(stats, watched),
        )
