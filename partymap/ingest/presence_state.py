"""The presence table as a mirror of the tracker: what a batch changed, and the restore at start.

The batch tracker (:class:`geo.presence.batch.PresenceTracker`) keeps every (member, site) pair
that is not OUTSIDE as a packed record. After each batch :class:`PresenceMirror` compares those
records with the ones it saved last and hands over only the pairs that changed (any field:
state, times or the check-in evidence gathered so far) and the pairs that went back to OUTSIDE.
They are saved in the batch's transaction, so the table always equals the tracker as of the
last commit, and :func:`restore` rebuilds the tracker from it when the daemon starts again
(STYLE rule 8: the caller persists the state).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from geo.model import VisitEnded
from geo.presence.batch import PresenceTracker
from geo.presence.columns import ARR, LEA, PRE, PairColumns, pair_ids, pair_key
from geo.presence.state import utc
from geo.sites.membership import SiteIndex
from gnss.fixtable import SYSTEMS
from store.presence import PresenceRow, TrackedPresence

IntArray = npt.NDArray[np.int64]

STATE_NAMES = {ARR: "arriving", PRE: "present", LEA: "leaving"}
_STATE_CODES = {name: code for code, name in STATE_NAMES.items()}


@dataclass(slots=True)
class PresenceChanges:
    """Pairs to save (changed), pairs to delete (back to OUTSIDE), and among the saved the ones
    whose state or start moved (what the live map is told)."""

    rows: list[TrackedPresence] = field(default_factory=list)
    cleared: list[tuple[int, int]] = field(default_factory=list)
    moved: list[PresenceRow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rows or self.cleared)


class PresenceMirror:
    """The pairs as last handed over for saving, keyed by stored ids (:func:`pair_key` of the
    member's and the site's)."""

    def __init__(self) -> None:
        self._keys = np.zeros(0, np.int64)
        self._pairs = PairColumns.empty(0)

    def __len__(self) -> int:
        return len(self._keys)

    def changes(self, tracker: PresenceTracker) -> PresenceChanges:
        members, sites, pairs = tracker.export_pairs()
        keys = pair_key(members, sites)
        order = np.argsort(keys)
        keys, pairs = keys[order], pairs.take(order)
        at = np.minimum(np.searchsorted(self._keys, keys), max(len(self._keys) - 1, 0))
        known = (self._keys[at] == keys) if len(self._keys) else np.zeros(len(keys), bool)
        before = self._pairs.take(at) if len(self._keys) else PairColumns.empty(len(keys))
        # The key words are the tracker's own (member row, site position, which a new site set
        # renumbers): compare everything after them.
        same = known & (pairs.words[:, 2:] == before.words[:, 2:]).all(axis=1)
        moved = ~known | (pairs.state != before.state) | (pairs.since != before.since)
        gone = np.ones(len(self._keys), bool)
        gone[at[known]] = False
        changes = PresenceChanges(
            rows=[_tracked(keys[i], pairs, i) for i in np.flatnonzero(~same).tolist()],
            cleared=[pair_ids(k) for k in self._keys[gone].tolist()],
        )
        changes.moved = [
            _tracked(keys[i], pairs, i).row for i in np.flatnonzero(moved & ~same).tolist()
        ]
        self._keys, self._pairs = keys, pairs
        return changes

    def holding(self, keys: IntArray, pairs: PairColumns) -> None:
        """Start from what the table holds (the pairs of a restore)."""
        order = np.argsort(keys)
        self._keys, self._pairs = keys[order], pairs.take(order)


def restore(
    index: SiteIndex, saved: Sequence[TrackedPresence], last_seen: dict[int, float]
) -> tuple[PresenceTracker, PresenceMirror, list[VisitEnded]]:
    """A tracker holding the saved pairs, each member with its last epoch time, and its mirror.

    Visits at sites that are gone since end as a new site set would end them: at the member's
    last epoch (a LEAVING pair at its first outside fix). They are returned; their rows are the
    mirror's to delete with the next batch.
    """
    known_sites = set(index.site_ids.tolist())
    kept = [t for t in saved if t.row.site_id in known_sites]
    members = np.array([t.row.member_id for t in kept], dtype=np.int64)
    site_ids = np.array([t.row.site_id for t in kept], dtype=np.int64)
    tracker = PresenceTracker(index, members=members)
    pairs = PairColumns.empty(len(kept))
    for i, t in enumerate(kept):
        _put_pair(pairs, i, t)
    tracker.restore_pairs(members, site_ids, pairs, last_seen)
    # The mirror starts from what the table holds: these pairs, and the gone ones to delete.
    gone = [t for t in saved if t.row.site_id not in known_sites]
    keys = pair_key(
        np.array([t.row.member_id for t in kept + gone], np.int64),
        np.array([t.row.site_id for t in kept + gone], np.int64),
    )
    mirror = PresenceMirror()
    mirror.holding(keys, PairColumns.concat([pairs, PairColumns.empty(len(gone))]))
    return tracker, mirror, [_ended(t, last_seen) for t in gone]


def _time(value: float) -> datetime | None:
    return None if math.isnan(value) else utc(value)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _tracked(key: int, pairs: PairColumns, i: int) -> TrackedPresence:
    member, site = pair_ids(int(key))
    state = int(pairs.state[i])
    since = utc(float(pairs.since[i]))
    row = PresenceRow(
        member_id=member,
        site_id=site,
        state=STATE_NAMES[state],
        since=since,
        checkin_at=since if state in (PRE, LEA) else None,  # timed at the first inside fix
    )
    last_in = _time(float(pairs.last_in[i]))
    evidence: dict[str, Any] = {
        "count": int(pairs.count[i]),
        "last_inside": None if last_in is None else last_in.isoformat(),
        "quality": int(pairs.quality[i]),
        "hdop": _number(float(pairs.hdop[i])),
        "accuracy_m": _number(float(pairs.acc[i])),
        "sats_used": dict(zip((c.value for c in SYSTEMS), pairs.sats[i].tolist(), strict=True)),
    }
    return TrackedPresence(row, leaving_at=_time(float(pairs.leaving[i])), evidence=evidence)


def _put_pair(pairs: PairColumns, i: int, t: TrackedPresence) -> None:
    evidence = t.evidence or {}
    pairs.state[i] = _STATE_CODES[t.row.state]
    pairs.since[i] = t.row.since.timestamp()
    pairs.leaving[i] = t.leaving_at.timestamp() if t.leaving_at is not None else math.nan
    pairs.count[i] = evidence.get("count", 0)
    last_in = evidence.get("last_inside")
    pairs.last_in[i] = datetime.fromisoformat(last_in).timestamp() if last_in else math.nan
    pairs.quality[i] = evidence.get("quality", 0)
    hdop, acc = evidence.get("hdop"), evidence.get("accuracy_m")
    pairs.hdop[i] = math.nan if hdop is None else hdop
    pairs.acc[i] = math.nan if acc is None else acc
    sats = evidence.get("sats_used", {})
    pairs.sats[i] = [sats.get(c.value, 0) for c in SYSTEMS]


def _ended(t: TrackedPresence, last_seen: dict[int, float]) -> VisitEnded:
    row = t.row
    if row.state == "leaving" and t.leaving_at is not None:
        end = t.leaving_at
    else:
        seen = last_seen.get(row.member_id)
        end = utc(seen) if seen is not None and math.isfinite(seen) else row.since
    return VisitEnded(row.member_id, row.site_id, row.since, end, row.state != "arriving")
