"""The batch as the store takes it: positions, events, presence and offsets in one
transaction, and what the live feed hears once it is committed."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from geo.model import CheckIn
from geo.quality.batch import Mask, reason_names
from partymap.ingest.directory import Directory
from partymap.ingest.intake import Event, Fixes, Intake, StoreBatch
from partymap.ingest.live import live_events
from partymap.ingest.metrics import IngestStats
from partymap.ingest.presence_state import PresenceChanges


class Storing:
    """Assembles each :class:`StoreBatch` and counts what it holds. ``watched`` says whether
    anyone watches the live feed's positions (the map): if not, none are made."""

    def __init__(self, stats: IngestStats, watched: Callable[[], bool]) -> None:
        self._stats = stats
        self._watched = watched

    def __call__(
        self,
        fixes: Fixes,
        reasons: Mask,
        events: list[Event],
        intake: Intake,
        directory: Directory,
        *,
        presence: PresenceChanges,
        offsets: dict[str, int],
    ) -> StoreBatch:
        """The batch's positions, events, presence changes and safe ``offsets``, and what the
        live feed hears of them."""
        stats = self._stats
        stats.batches += 1
        rejected = np.flatnonzero(reasons)
        stats.fixes_accepted += len(reasons) - len(rejected)
        for mask, n in zip(*np.unique(reasons[rejected], return_counts=True), strict=True):
            for name in reason_names(int(mask)):
                stats.fixes_rejected[name] += int(n)
        for event in events:
            stats.events["checkin" if isinstance(event, CheckIn) else "visit_ended"] += 1
        received = [a.chunks[0].received_at for a in intake.arrivals if a.timed and a.chunks]
        received += [h.received_s for h in intake.handed]
        live = live_events(directory, fixes, reasons, events, presence, positions=self._watched())
        return StoreBatch(
            positions=fixes,
            reasons=reasons,
            now_s=intake.now_s,
            events=events,
            presence=presence,
            offsets=offsets,
            live=live,
            arrived_s=min(received) if received else math.nan,
        )
