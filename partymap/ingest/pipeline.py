"""The ingestion pipeline: one micro-batch of NMEA from many devices, through every stage.

:func:`ingest` is the one place that lists the stages in order (STYLE rule 1)::

    sources → nmea → epochs → devices/members → quality → membership → presence → store
                handed-over fixes ↗ (JT/T 808, phones: :mod:`partymap.ingest.handover`)

Each stage is a function of the batch and of :class:`Stages`, the state that outlives a batch
(the decoder's per-device epochs, the quality rules' last accepted fixes, the presence tracker,
the site index, the resume offsets of replayed logs). Everything here runs on the daemon's one
pipeline thread; the result, a :class:`StoreBatch`, is what the writer commits in one
transaction — positions, visits, presence and replay offsets together — before the live feed
hears of it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from geo.columns import FixColumns
from geo.model import CheckIn, QualityThresholds, VisitEnded
from geo.presence.batch import PresenceTracker
from geo.quality.batch import DeviceTable, Mask, check_quality_batch, reason_names
from geo.quality.replay_guard import ReplayGuard
from geo.sites.membership import Memberships, SiteIndex
from gnss.epoch.batch import BatchDecoder
from gnss.epoch.devices import counts_of
from gnss.epoch.process import DecoderProcess
from gnss.fixtable import FixTable
from gnss.model import RawChunk
from partymap.ingest.directory import DeviceCodes, Directory
from partymap.ingest.handover import Handed, Receipt, handed_fixes
from partymap.ingest.live import live_events
from partymap.ingest.metrics import IngestStats
from partymap.ingest.offsets import ResumePoints
from partymap.ingest.positions import position_batch
from partymap.ingest.presence_state import PresenceChanges, PresenceMirror
from store.positions import PositionBatch

Event = CheckIn | VisitEnded
Clock = Literal["wall", "stream"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """Chunks as one source delivered them, in order. ``timed``: their ``received_at`` is when
    their lines arrived (false for a log replayed as fast as it can be read). (Chunks come in
    tens of thousands a second: one such record per source's delivery, not per chunk.)"""

    chunks: list[RawChunk]
    source: str  # stored with the positions: "tcp", "mqtt", "http", "serial", "gpsd", "replay"
    timed: bool = True


@dataclass(slots=True)
class Intake:
    """One micro-batch: chunks in arrival order (each device's), and the devices whose streams
    ended."""

    arrivals: list[Arrival]
    now_s: float  # wall clock, UTC seconds
    ended: list[str] = field(default_factory=list)
    # The daemon is stopping: close every open epoch, but those of logs being replayed (they
    # resume from the start of their open epoch).
    final: bool = False
    # Fixes decoded by their sources (JT/T 808 terminals, phones), in submission order.
    handed: list[Handed] = field(default_factory=list)
    # Receipts of uploads (HTTP bodies) this intake ends, by device: each device is in ``ended``
    # and the receipts resolve (with 0) once the batch is committed.
    posted: list[tuple[str, Receipt]] = field(default_factory=list)


@dataclass(slots=True)
class Fixes:
    """The batch's fixes (each device's in order) as the fast path made them, their sources,
    and the columns of the stages after (with their stored device and member ids)."""

    table: FixTable
    sources: npt.NDArray[np.object_]
    cols: FixColumns


@dataclass(slots=True, eq=False)
class StoreBatch:
    """What one micro-batch leaves to the store, in one transaction, and then to the live feed."""

    positions: PositionBatch
    events: list[Event]
    presence: PresenceChanges
    offsets: dict[str, int]
    live: list[dict[str, Any]]
    arrived_s: float  # arrival of the batch's oldest chunk (NaN: none)
    # Handed-over submissions and their fixes kept: resolved once the batch is committed.
    receipts: list[tuple[Receipt, int]] = field(default_factory=list)

    @property
    def fixes(self) -> int:
        return len(self.positions)


@dataclass(slots=True)
class Sites:
    """The site set in use, its tracker, and the next version once it is loaded."""

    version: int
    tracker: PresenceTracker
    mirror: PresenceMirror
    # The newest version a refresh loaded (the pipeline moves to it between batches).
    next: tuple[int, SiteIndex] | None = None
    # Events waiting for the next batch's commit (visits ended by a restore).
    carried: list[Event] = field(default_factory=list)

    @property
    def index(self) -> SiteIndex:
        return self.tracker.index


@dataclass(slots=True)
class Stages:
    """The pipeline's state between batches (touched only by the pipeline thread, except
    ``directory`` and ``sites.next``, which refreshes replace whole)."""

    directory: Directory
    sites: Sites
    stats: IngestStats = field(default_factory=IngestStats)
    # The newest directory a refresh loaded; the pipeline moves to it between batches.
    next_directory: Directory | None = None
    decoder: BatchDecoder | DecoderProcess = field(default_factory=BatchDecoder)
    codes: DeviceCodes = field(default_factory=DeviceCodes)  # decoder code → stored ids
    guard: ReplayGuard = field(default_factory=ReplayGuard)
    devices: DeviceTable = field(default_factory=DeviceTable.empty)
    resume: ResumePoints = field(default_factory=ResumePoints)
    # Each device's source ("tcp", "mqtt"…), as its latest chunk came: stored with its fixes.
    source_of: dict[str, str] = field(default_factory=dict)
    # "wall": visits of silent members end by the clock; "stream": by the newest fix time
    # seen (a log replayed faster than it was recorded).
    clock: Clock = "wall"
    expire_every_s: float = 5.0
    # Whether anyone watches the live feed's positions (the map): if not, none are made.
    live_positions: bool = True
    next_expire_s: float = -math.inf
    stream_time_s: float = -math.inf
    # Liveness on the receipt timeline: when each member's device last sent anything (wall
    # clock of the batch), and since when the pipeline listens (the default for the others).
    heard_s: dict[int, float] = field(default_factory=dict)
    listening_since_s: float = math.nan


def ingest(s: Stages, intake: Intake) -> StoreBatch:
    """Every stage of one micro-batch, in order."""
    arrivals = admit(s, intake.arrivals)  # sources: known, active devices only
    hear(s, arrivals, intake.now_s)  # liveness: each device's latest sign of life
    decoded = decode(s, arrivals, closing(s, intake))  # nmea → epochs → fixes
    fixes = attribute(s, decoded)  # fixes → devices and members
    fixes, receipts = hand_over(s, fixes, intake.handed)  # + fixes decoded by their sources
    reasons = check_quality(s, fixes.cols, intake.now_s)  # quality rules
    ended = switch_sites(s)  # a new version of the site set, if one is ready
    carried = Carried.of(fixes.cols, reasons)  # only carried devices' fixes move presence
    found = s.sites.index.memberships(*carried.where, usable=carried.reasons == 0)  # membership
    events = ended + step_presence(s, carried, found, intake.now_s)  # presence
    batch = for_store(s, fixes, reasons, events, intake)  # → store (committed by the writer)
    batch.receipts = receipts + [(receipt, 0) for _, receipt in intake.posted]
    return batch


# -- the stages ---------------------------------------------------------------------------------


def admit(s: Stages, arrivals: Sequence[Arrival]) -> list[Arrival]:
    """Drop chunks of devices the directory does not know or that are deactivated, and set
    aside (counted) those of quarantined devices."""
    if s.next_directory is not None and s.next_directory is not s.directory:
        s.directory = s.next_directory
    active = s.directory.active
    quarantined = s.stats.quarantined_devices
    admitted = []
    for a in arrivals:
        chunks = [c for c in a.chunks if active(c.device_id) is not None]
        s.stats.unknown_device_chunks += len(a.chunks) - len(chunks)
        if quarantined:
            aside = [c for c in chunks if c.device_id in quarantined]
            if aside:
                s.stats.lines_quarantined[a.source] += lines_in(aside)
                chunks = [c for c in chunks if c.device_id not in quarantined]
        s.source_of.update(dict.fromkeys([c.device_id for c in chunks], a.source))
        admitted.append(Arrival(chunks, a.source, a.timed))
    return admitted


def hear(s: Stages, arrivals: Sequence[Arrival], now_s: float) -> None:
    """Note when each carried device last sent anything: silence, for presence, is measured
    on this receipt timeline, never by comparing the clock with fix times."""
    if math.isnan(s.listening_since_s):
        s.listening_since_s = now_s
    active = s.directory.active
    for device_id in {c.device_id for a in arrivals for c in a.chunks}:
        entry = active(device_id)
        if entry is not None and entry.member_id is not None:
            s.heard_s[entry.member_id] = now_s


def closing(s: Stages, intake: Intake) -> list[str]:
    """Devices whose open epoch this batch closes: streams that ended, and on the last batch
    every device but the replayed logs."""
    if not intake.final:
        return intake.ended
    return [*intake.ended, *(d for d in s.decoder.device_ids if d not in s.resume)]


def decode(s: Stages, arrivals: Sequence[Arrival], ended: Sequence[str]) -> FixTable:
    """The fast path of the GNSS core over the batch; ended streams close their open epochs."""
    chunks = []
    for a in arrivals:
        s.stats.lines_read[a.source] += lines_in(a.chunks)
        for chunk in a.chunks:
            s.resume.received(chunk)
        chunks += a.chunks if a.timed else [replace(c, received_at=math.nan) for c in a.chunks]
    batch = s.decoder.decode_table(chunks)
    ids = s.decoder.device_ids
    labels = [s.source_of[ids[code]] for code in batch.devices.tolist()]
    for label in set(labels):
        rows = [k for k, other in enumerate(labels) if other == label]
        s.stats.count_lines(label, counts_of(batch.counts[rows].sum(axis=0)))
    for row, code in enumerate(batch.devices.tolist()):
        counts = counts_of(batch.counts[row])
        outcomes = Counter(s.stats.device_lines.get(ids[code], ()))
        outcomes["accepted"] += counts.accepted
        outcomes.update(counts.rejected)
        s.stats.device_lines[ids[code]] = outcomes
    tables = [batch.table]
    for device_id in ended:
        code = s.decoder.code(device_id)
        if code is not None:
            flushed = s.decoder.flush(device_id)[device_id]
            tables.append(FixTable.from_fixes(flushed, np.full(len(flushed), code, np.int64)))
    return FixTable.concat(tables)


def attribute(s: Stages, table: FixTable) -> Fixes:
    """Each fix with its stored device's and member's ids (−1: a device nobody carries), as
    columns; fixes of devices the directory no longer has are dropped."""
    ids = s.decoder.device_ids
    device_of, member_of = s.codes.lookup(s.directory, ids)
    devices = device_of[table.device]
    if np.any(devices < 0):
        table = table.take(np.flatnonzero(devices >= 0))
        devices = device_of[table.device]
    codes, where = np.unique(table.device, return_inverse=True)
    labels = np.array([s.source_of[ids[code]] for code in codes.tolist()], dtype=object)
    cols = FixColumns.from_table(table, devices=devices, members=member_of[table.device])
    s.stats.fixes += len(table)
    return Fixes(table, labels[where.ravel()], cols)


def hand_over(
    s: Stages, fixes: Fixes, handed: Sequence[Handed]
) -> tuple[Fixes, list[tuple[Receipt, int]]]:
    """The decoded NMEA fixes and, after them, the fixes handed over already decoded."""
    if not handed:
        return fixes, []
    more = handed_fixes(s.directory, handed)
    s.stats.fixes += len(more.table)
    joined = Fixes(
        FixTable.concat([fixes.table, more.table]),
        np.concatenate([fixes.sources, more.sources]),
        concat(fixes.cols, more.cols),
    )
    return joined, more.receipts


def check_quality(s: Stages, cols: FixColumns, now_s: float) -> Mask:
    """Every quality rule over the batch; a fix keeps the names of all the rules it failed."""
    received = np.where(np.isnan(cols.received_s), now_s, cols.received_s)
    replayed = s.guard.check(cols.raw_hash, cols.device, received)
    # Devices seen for the first time, with their own thresholds or the defaults.
    groups: dict[QualityThresholds | None, list[int]] = {}
    for code in np.setdiff1d(cols.device, s.devices.code).tolist():
        groups.setdefault(s.directory.quality_by_id.get(code), []).append(code)
    for thresholds, codes in groups.items():
        s.devices = s.devices.with_devices(np.array(codes, dtype=np.int64), thresholds)
    reasons, s.devices = check_quality_batch(cols, s.devices, now_s, replayed)
    return reasons


def switch_sites(s: Stages) -> list[Event]:
    """Move to a newly loaded site set; visits at sites that are gone end."""
    events, s.sites.carried = s.sites.carried, []
    latest = s.sites.next
    if latest is not None and latest[0] != s.sites.version:
        version, index = latest
        events += s.sites.tracker.use_index(index).to_events()
        s.sites.version = version
        s.stats.site_set_version, s.stats.sites = version, len(index)
    return events


def step_presence(s: Stages, carried: Carried, found: Memberships, now_s: float) -> list[Event]:
    """The presence state machine over the batch, then the silent members' visits ended."""
    tracker = s.sites.tracker
    events = tracker.step(carried.cols, carried.reasons, found).to_events()
    if len(carried.cols):
        s.stream_time_s = max(s.stream_time_s, float(np.max(carried.cols.time_s)))
    clock = now_s if s.clock == "wall" else s.stream_time_s
    if clock >= s.next_expire_s:
        s.next_expire_s = clock + s.expire_every_s
        if s.clock == "wall":
            # A live daemon: a member is silent when its device has sent nothing for max_gap
            # of receipt time, however far its fix times lag the clock.
            since = s.listening_since_s if not math.isnan(s.listening_since_s) else now_s
            members = tracker.members.member_of_row.tolist()
            heard = np.array([s.heard_s.get(m, since) for m in members], dtype=np.float64)
            events += tracker.expire(now_s, quiet_s=now_s - heard).to_events()
        else:
            events += tracker.expire(clock).to_events()
    return events


def for_store(
    s: Stages, fixes: Fixes, reasons: Mask, events: list[Event], intake: Intake
) -> StoreBatch:
    """The batch as the store takes it, with the live feed's events and the safe offsets."""
    stats = s.stats
    stats.batches += 1
    rejected = np.flatnonzero(reasons)
    stats.fixes_accepted += len(reasons) - len(rejected)
    for mask, n in zip(*np.unique(reasons[rejected], return_counts=True), strict=True):
        for name in reason_names(int(mask)):
            stats.fixes_rejected[name] += int(n)
    for event in events:
        stats.events["checkin" if isinstance(event, CheckIn) else "visit_ended"] += 1
    presence = s.sites.mirror.changes(s.sites.tracker)
    stats.pairs_under_way = len(s.sites.mirror)
    received = [a.chunks[0].received_at for a in intake.arrivals if a.timed and a.chunks]
    received += [h.received_s for h in intake.handed]
    return StoreBatch(
        positions=position_batch(fixes.table, fixes.cols, reasons, fixes.sources, intake.now_s),
        events=events,
        presence=presence,
        offsets=safe_offsets(
            s, {c.device_id for a in intake.arrivals for c in a.chunks} | set(intake.ended)
        ),
        live=live_events(
            s.directory, fixes.cols, reasons, events, presence, positions=s.live_positions
        ),
        arrived_s=min(received) if received else math.nan,
    )


def safe_offsets(s: Stages, device_ids: set[str]) -> dict[str, int]:
    """For each replayed stream in the batch, the offset up to which it is now stored."""
    offsets = {}
    for device_id in device_ids:
        if device_id in s.resume:
            key, offset = s.resume.settle(device_id, s.decoder.open_lines(device_id))
            offsets[key] = offset
    return offsets


# -- helpers ------------------------------------------------------------------------------------


def lines_in(chunks: Iterable[RawChunk]) -> int:
    """Lines the chunks hold (a chunk holds complete lines)."""
    return sum(chunk.data.count(b"\n") for chunk in chunks)


def by_device(intake: Intake) -> dict[str, Intake]:
    """The intake cut into one intake per device (each keeps its chunks' order and sources)."""
    parts: dict[str, Intake] = {}
    for arrival in intake.arrivals:
        for chunk in arrival.chunks:
            part = parts.setdefault(chunk.device_id, Intake([], intake.now_s, final=intake.final))
            if not part.arrivals or part.arrivals[-1].source != arrival.source:
                part.arrivals.append(Arrival([], arrival.source, arrival.timed))
            part.arrivals[-1].chunks.append(chunk)
    for device_id in intake.ended:
        parts.setdefault(device_id, Intake([], intake.now_s, final=intake.final))
        parts[device_id].ended.append(device_id)
    for device_id, receipt in intake.posted:
        parts[device_id].posted.append((device_id, receipt))
    for submission in intake.handed:
        for device_id, own in submission.by_device().items():
            part = parts.setdefault(device_id, Intake([], intake.now_s, final=intake.final))
            part.handed.append(own)
    return parts


@dataclass(frozen=True, slots=True)
class Carried:
    """The fixes of devices somebody carries, with their quality verdicts."""

    cols: FixColumns
    reasons: Mask

    @classmethod
    def of(cls, cols: FixColumns, reasons: Mask) -> Carried:
        rows = np.flatnonzero(cols.member >= 0)
        return cls(take(cols, rows), reasons[rows])

    @property
    def where(self) -> tuple[npt.NDArray[np.float64], ...]:
        """(lat, lon, accuracy_m): what membership looks at."""
        return self.cols.lat, self.cols.lon, self.cols.accuracy_m


def concat(a: FixColumns, b: FixColumns) -> FixColumns:
    """Two batches of fixes, one after the other."""
    return FixColumns(
        **{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in fields(a)}
    )


def take(cols: FixColumns, rows: npt.NDArray[np.int64]) -> FixColumns:
    """Some rows of a batch of fixes."""
    return FixColumns(**{f.name: getattr(cols, f.name)[rows] for f in fields(FixColumns)})
