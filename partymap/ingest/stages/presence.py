"""Membership and presence: which sites cover each carried fix, and the state machine over
them, with the site set they are measured against."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from geo.presence.batch import PresenceTracker
from geo.sites.membership import Memberships, SiteIndex
from partymap.ingest.directory import Directory
from partymap.ingest.intake import Arrival, Carried, Clock, Event
from partymap.ingest.metrics import IngestStats
from partymap.ingest.presence_state import PresenceChanges, PresenceMirror
from partymap.ingest.stages.handoff import Offer


@dataclass(slots=True)
class Sites:
    """The site set a pipeline starts from: its version, the tracker restored over its index,
    the mirror of the stored presence, and the events of the restore (visits it ended), which
    go with the first batch."""

    version: int
    tracker: PresenceTracker
    mirror: PresenceMirror
    carried: list[Event] = field(default_factory=list)

    @property
    def index(self) -> SiteIndex:
        return self.tracker.index


def membership(carried: Carried, index: SiteIndex) -> Memberships:
    """Which sites cover each carried fix (only fixes that passed quality count as evidence)."""
    return index.memberships(*carried.where, usable=carried.reasons == 0)


class Presence:
    """The presence tracker over the site set in force (its pairs are keyed by the index's
    sites, so the two change together: a refresh :meth:`offer`-s a new version, used from the
    next batch on), the mirror of what the store holds, and each member's liveness."""

    def __init__(
        self, sites: Sites, stats: IngestStats, *, clock: Clock, expire_every_s: float
    ) -> None:
        self.version = sites.version
        self.tracker = sites.tracker
        self._mirror = sites.mirror
        self._carried = list(sites.carried)  # events waiting for the next batch's commit
        self._offered: Offer[tuple[int, SiteIndex]] = Offer()
        self._stats = stats
        self._clock = clock
        self._expire_every_s = expire_every_s
        self._next_expire_s = -math.inf
        self._stream_time_s = -math.inf
        # Liveness on the receipt timeline: when each member's device last sent anything (wall
        # clock of the batch), and since when the pipeline listens (the default for the others).
        self._heard_s: dict[int, float] = {}
        self._listening_since_s = math.nan
        stats.site_set_version, stats.sites = sites.version, len(sites.index)

    @property
    def index(self) -> SiteIndex:
        """The site index in force."""
        return self.tracker.index

    def offer(self, version: int, index: SiteIndex) -> None:
        """A newly loaded version of the site set, for the batches after the one under way
        (any thread)."""
        self._offered.put((version, index))

    def latest_version(self) -> int:
        """The newest version offered or in force: what a refresh compares the store with."""
        offered = self._offered.peek()
        return offered[0] if offered is not None else self.version

    def hear(self, arrivals: Sequence[Arrival], directory: Directory, now_s: float) -> None:
        """Note when each carried device last sent anything: silence, for presence, is
        measured on this receipt timeline, never by comparing the clock with fix times."""
        if math.isnan(self._listening_since_s):
            self._listening_since_s = now_s
        active = directory.active
        for device_id in {c.device_id for a in arrivals for c in a.chunks}:
            entry = active(device_id)
            if entry is not None and entry.member_id is not None:
                self._heard_s[entry.member_id] = now_s

    def switch_sites(self) -> list[Event]:
        """The events carried over, and, if a new site set was offered, the move to it: visits
        at sites that are gone end."""
        events, self._carried = self._carried, []
        offered = self._offered.take()
        if offered is not None and offered[0] != self.version:
            version, index = offered
            events += self.tracker.use_index(index).to_events()
            self.version = version
            self._stats.site_set_version, self._stats.sites = version, len(index)
        return events

    def step(self, carried: Carried, found: Memberships, now_s: float) -> list[Event]:
        """The presence state machine over the batch, then the silent members' visits ended."""
        tracker = self.tracker
        events = tracker.step(carried.fixes, carried.members, carried.reasons, found).to_events()
        if len(carried.fixes):
            newest_s = int(np.max(carried.fixes.time_us)) / 1e6  # as presence has it
            self._stream_time_s = max(self._stream_time_s, newest_s)
        clock = now_s if self._clock == "wall" else self._stream_time_s
        if clock >= self._next_expire_s:
            self._next_expire_s = clock + self._expire_every_s
            if self._clock == "wall":
                # A live daemon: a member is silent when its device has sent nothing for
                # max_gap of receipt time, however far its fix times lag the clock.
                since = self._listening_since_s
                since = since if not math.isnan(since) else now_s
                members = tracker.members.member_of_row.tolist()
                heard = np.array([self._heard_s.get(m, since) for m in members], dtype=np.float64)
                events += tracker.expire(now_s, quiet_s=now_s - heard).to_events()
            else:
                events += tracker.expire(clock).to_events()
        return events

    def changes(self) -> PresenceChanges:
        """What the store's presence table must take to match the tracker."""
        changes = self._mirror.changes(self.tracker)
        self._stats.pairs_under_way = len(self._mirror)
        return changes
