"""Handed-over fixes: those decoded by their sources (JT/T 808 terminals, phones) join the
decoded NMEA fixes."""

from __future__ import annotations

from collections.abc import Sequence

from partymap.ingest.directory import Directory
from partymap.ingest.handover import Handed, Receipt, handed_fixes
from partymap.ingest.intake import Fixes
from partymap.ingest.metrics import IngestStats


class HandedOver:
    """Appends the batch's handed-over fixes after its decoded ones (it keeps no state)."""

    def __init__(self, stats: IngestStats) -> None:
        self._stats = stats

    def __call__(
        self, fixes: Fixes, handed: Sequence[Handed], directory: Directory
    ) -> tuple[Fixes, list[tuple[Receipt, int]]]:
        """The decoded fixes and, after them, the handed-over ones, with their receipts."""
        if not handed:
            return fixes, []
        more = handed_fixes(directory, handed)
        self._stats.fixes += len(more.table)
        joined = Fixes.concat(fixes, Fixes(more.table, more.members, more.sources))
        return joined, more.receipts
