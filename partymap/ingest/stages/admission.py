"""Admission: which chunks enter the pipeline, by the device directory in force."""

from __future__ import annotations

from collections.abc import Sequence

from partymap.ingest.directory import Directory
from partymap.ingest.intake import Arrival, lines_in
from partymap.ingest.metrics import IngestStats
from partymap.ingest.stages.handoff import Offer


class Admission:
    """Keeps the directory in force (a refresh :meth:`offer`-s a newer one, used from the next
    batch on) and drops the chunks of devices it does not know or has deactivated, setting
    aside (counted) those of quarantined devices."""

    def __init__(self, directory: Directory, stats: IngestStats) -> None:
        self.directory = directory
        self._offered: Offer[Directory] = Offer()
        self._stats = stats

    def offer(self, directory: Directory) -> None:
        """A newer directory, for the batches after the one under way (any thread)."""
        self._offered.put(directory)

    def upcoming(self) -> Directory:
        """The directory the next batch will use."""
        return self._offered.peek() or self.directory

    def current(self) -> Directory:
        """The directory for the batch that begins: the newest offered, if any."""
        newer = self._offered.take()
        if newer is not None:
            self.directory = newer
        return self.directory

    def __call__(self, arrivals: Sequence[Arrival]) -> list[Arrival]:
        stats = self._stats
        active = self.directory.active
        quarantined = stats.quarantined_devices
        admitted = []
        for a in arrivals:
            chunks = [c for c in a.chunks if active(c.device_id) is not None]
            stats.unknown_device_chunks += len(a.chunks) - len(chunks)
            if quarantined:
                aside = [c for c in chunks if c.device_id in quarantined]
                if aside:
                    stats.lines_quarantined[a.source] += lines_in(aside)
                    chunks = [c for c in chunks if c.device_id not in quarantined]
            admitted.append(Arrival(chunks, a.source, a.timed))
        return admitted
