"""The batch write path: every field kept, rejections with their reasons, the latest position
moving only forward, replay offsets committed with the positions, retention."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from geo.quality.batch import reason_names
from gnss.fixtable import FixTable
from gnss.model import Constellation, Fix, FixMode, FixQuality
from store import latest, offsets, positions, tracks
from store.errors import InvalidValueError
from store.fix_rows import write_fixes
from store.positions import NewPosition, PositionBatch
from store.query import BBox
from tests.store.helpers import T0, fix, member_with_device, position, tree


def write(db: Session, *items: NewPosition) -> int:
    return positions.write_positions(db, batch=PositionBatch.from_positions(items))


def test_every_field_of_a_fix_is_stored(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    full = Fix(
        time=T0,
        lat=30.512345678,
        lon=114.398765432,
        alt_m=23.4,
        mode=FixMode.THREE_D,
        quality=FixQuality.RTK_FLOAT,
        hdop=0.7,
        pdop=1.3,
        sats_used=21,
        sats_used_by_system={
            Constellation.GPS: 5,
            Constellation.GLONASS: 2,
            Constellation.GALILEO: 3,
            Constellation.BEIDOU: 9,
            Constellation.QZSS: 1,
            Constellation.NAVIC: 0,
            Constellation.SBAS: 1,
        },
        speed_mps=1.25,
        course_deg=87.5,
        accuracy_m=0.4,
    )
    received = T0 + timedelta(milliseconds=350)
    stored = NewPosition(device_id, member_id, full, received, "mqtt")
    assert write(db, stored) == 1
    db.commit()
    (row,) = tracks.list_positions(db, member_id=member_id)
    assert (row.device_id, row.member_id, row.received_at, row.source, row.rejections) == (
        device_id,
        member_id,
        received,
        "mqtt",
        (),
    )
    assert row.fix == Fix(
        time=full.time,
        lat=full.lat,
        lon=full.lon,
        alt_m=full.alt_m,
        mode=full.mode,
        quality=full.quality,
        hdop=full.hdop,
        pdop=full.pdop,
        sats_used=full.sats_used,
        sats_used_by_system=full.sats_used_by_system,
        speed_mps=full.speed_mps,
        course_deg=full.course_deg,
        accuracy_m=full.accuracy_m,
        received_at=received,
    )


def test_rejected_fixes_are_kept_with_every_reason_but_never_become_latest(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    write(
        db,
        position(member_id, device_id, 0),
        position(member_id, device_id, 10, "too_few_sats", "hdop_too_high", lat=31.0),
        position(member_id, device_id, 20, "no_fix", lat=None, lon=None),
    )
    rejected = tracks.list_positions(db, member_id=member_id, rejected=True)
    assert [r.rejections for r in rejected] == [("too_few_sats", "hdop_too_high"), ("no_fix",)]
    assert rejected[1].fix.has_position is False
    assert [r.fix.time for r in tracks.list_positions(db, rejected=False)] == [T0]
    (now,) = latest.latest_positions(db)
    assert (now.fix_time, now.lat) == (T0, 30.5)


def test_the_latest_position_only_moves_forward(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    other_id, other_device = member_with_device(db, t.branch_b.id, "li")
    write(
        db, position(member_id, device_id, 5, lat=30.1), position(member_id, device_id, 9, lat=30.2)
    )
    db.commit()
    # A late store-and-forward fix, in a batch of its own, does not replace a newer one …
    write(db, position(member_id, device_id, 1, lat=30.9), position(other_id, other_device, 3))
    db.commit()
    by_member = {p.member_id: p for p in latest.latest_positions(db)}
    assert (by_member[member_id].fix_time, by_member[member_id].lat) == (
        T0 + timedelta(seconds=9),
        30.2,
    )
    assert by_member[other_id].fix_time == T0 + timedelta(seconds=3)
    # … a newer one does, even when it arrives first in its batch.
    write(db, position(member_id, device_id, 30, lat=30.3), position(member_id, device_id, 20))
    (mine,) = latest.latest_positions(db, member_ids=[member_id])
    assert (mine.fix_time, mine.lat, mine.org_id) == (
        T0 + timedelta(seconds=30),
        30.3,
        t.branch_a.id,
    )
    assert (mine.sats_beidou, mine.accuracy_m, mine.quality, mine.mode) == (6, 2.5, 1, 3)


def test_latest_positions_may_be_refreshed_once_for_several_batches(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    mark = positions.newest_position_id(db)
    for seconds in (0, 10, 20):
        batch = PositionBatch.from_positions([position(member_id, device_id, seconds)])
        positions.write_positions(db, batch=batch, refresh_latest=False)
    assert latest.latest_positions(db) == []
    top = positions.newest_position_id(db)
    assert top > mark
    positions.refresh_latest_positions(db, after_id=mark, up_to_id=top)
    (now,) = latest.latest_positions(db)
    assert now.fix_time == T0 + timedelta(seconds=20)


def test_fixes_of_unassigned_devices_are_stored_without_a_member(db: Session) -> None:
    t = tree(db)
    _, device_id = member_with_device(db, t.branch_a.id, "zhang")
    write(db, position(None, device_id, 0))
    assert [p.member_id for p in tracks.list_positions(db, device_id=device_id)] == [None]
    assert latest.latest_positions(db) == []


def test_latest_filters_and_pages(db: Session) -> None:
    t = tree(db)
    a, da = member_with_device(db, t.branch_a.id, "a")
    b, dbb = member_with_device(db, t.branch_b.id, "b")
    c, dc = member_with_device(db, t.branch_c.id, "c")
    write(
        db,
        position(a, da, 0, lat=30.5, lon=114.3),
        position(b, dbb, 100, lat=39.9, lon=116.4),
        position(c, dc, 200, lat=-1.29, lon=36.82),
    )
    db.commit()
    ids = [p.member_id for p in latest.latest_positions(db)]
    assert ids == sorted([a, b, c])
    assert {p.member_id for p in latest.latest_positions(db, within_org_id=t.committee.id)} == {
        a,
        b,
    }
    hubei = latest.latest_positions(db, bbox=BBox(113.0, 29.0, 116.0, 32.0))
    assert [p.member_id for p in hubei] == [a]
    since = latest.latest_positions(db, since=T0 + timedelta(seconds=100))
    assert {p.member_id for p in since} == {b, c}
    first = latest.latest_positions(db, limit=2)
    rest = latest.latest_positions(db, after_member_id=first[-1].member_id)
    assert [p.member_id for p in first + rest] == ids


def test_columns_hold_the_same_rows_as_tuples(db: Session) -> None:
    t = tree(db)
    written = []
    for i in range(5):
        member_id, device_id = member_with_device(db, t.branch_a.id, f"m{i}")
        accuracy = None if i == 2 else 1.5 + i
        written.append(position(member_id, device_id, i, lat=30.0 + i, beidou=i))
        if accuracy is None:
            written[-1] = NewPosition(
                device_id,
                member_id,
                Fix(time=T0 + timedelta(seconds=i), lat=32.0, lon=114.0, mode=FixMode.TWO_D),
                T0,
                "tcp",
            )
    write(db, *written)
    db.commit()
    rows = latest.latest_positions(db)
    columns = latest.latest_position_columns(db)
    assert len(columns) == 5
    assert columns.member_id.tolist() == [r.member_id for r in rows]
    assert columns.org_id.tolist() == [t.branch_a.id] * 5
    assert columns.lat.tolist() == [r.lat for r in rows]
    assert columns.lon.tolist() == [r.lon for r in rows]
    assert np.isnan(columns.accuracy_m[2]) and columns.accuracy_m[0] == 2.5
    assert columns.sats_beidou.tolist() == [0, 1, -1, 3, 4]
    assert columns.fix_time.tolist() == [r.fix_time.replace(tzinfo=None) for r in rows]
    scoped = latest.latest_position_columns(db, within_org_id=t.committee2.id)
    assert len(scoped) == 0 and scoped.lat.dtype == np.float64


def test_tracks_by_time_range(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    other, other_device = member_with_device(db, t.branch_a.id, "li")
    write(
        db,
        *(position(member_id, device_id, s, lat=30.0 + s / 1000) for s in (30, 0, 10, 20)),
        position(member_id, device_id, 15, "impossible_speed", lat=35.0),
        position(member_id, device_id, 25, "no_fix", lat=None, lon=None),
        position(other, other_device, 12),
    )
    points = tracks.track(db, member_id=member_id, start=T0, end=T0 + timedelta(seconds=30))
    assert [p.fix_time for p in points] == [T0 + timedelta(seconds=s) for s in (0, 10, 20)]
    assert points[1].lat == 30.01 and points[1].rejections == ()
    everything = tracks.track(
        db, member_id=member_id, start=T0, end=T0 + timedelta(hours=1), include_rejected=True
    )
    assert [p.rejections for p in everything if p.rejections] == [("impossible_speed",)]
    assert len(everything) == 5  # the fix without a position has no place on a track
    assert len(tracks.track(db, member_id=member_id, start=T0, end=T0, limit=10)) == 0


def test_list_positions_pages_by_id(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    write(db, *(position(member_id, device_id, s) for s in range(7)))
    first = tracks.list_positions(db, member_id=member_id, limit=3)
    second = tracks.list_positions(db, member_id=member_id, after_id=first[-1].id, limit=3)
    third = tracks.list_positions(db, member_id=member_id, after_id=second[-1].id, limit=3)
    assert len(first) == 3 and len(second) == 3 and len(third) == 1
    windowed = tracks.list_positions(
        db, member_id=member_id, start=T0 + timedelta(seconds=2), end=T0 + timedelta(seconds=4)
    )
    assert [p.fix.time for p in windowed] == [T0 + timedelta(seconds=s) for s in (2, 3)]


def test_columns_may_come_from_numpy(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    batch = PositionBatch.from_positions([position(member_id, device_id, s) for s in range(3)])
    batch.lat = np.array([30.1, 30.2, 30.3])  # type: ignore[assignment]
    batch.sats_beidou = np.array([7, 8, 9], dtype=np.int16)  # type: ignore[assignment]
    assert positions.write_positions(db, batch=batch) == 3
    assert [p.fix.lat for p in tracks.list_positions(db)] == [30.1, 30.2, 30.3]


def test_malformed_batches_are_refused(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    assert positions.write_positions(db, batch=PositionBatch()) == 0
    uneven = PositionBatch.from_positions([position(member_id, device_id, 0)])
    uneven.lat.append(1.0)
    with pytest.raises(InvalidValueError, match="length"):
        positions.write_positions(db, batch=uneven)
    naive = PositionBatch.from_positions([position(member_id, device_id, 0)])
    naive.fix_time[0] = datetime(2026, 5, 1, 8, 0)
    with pytest.raises(InvalidValueError, match="naive"):
        positions.write_positions(db, batch=naive)


def test_an_offset_is_committed_with_its_positions_or_not_at_all(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    db.commit()
    assert offsets.get_replay_offset(db, source="replay:site-a.nmea") is None
    write(db, position(member_id, device_id, 0))
    offsets.set_replay_offset(db, source="replay:site-a.nmea", offset=4096)
    db.commit()
    write(db, position(member_id, device_id, 1))
    offsets.set_replay_offset(db, source="replay:site-a.nmea", offset=8192)
    db.rollback()  # a crash before commit: neither the positions nor the offset remain
    assert offsets.get_replay_offset(db, source="replay:site-a.nmea") == 4096
    assert len(tracks.list_positions(db, member_id=member_id)) == 1
    with pytest.raises(InvalidValueError):
        offsets.set_replay_offset(db, source="x", offset=-1)


def test_purge_removes_old_positions_only(db: Session) -> None:
    t = tree(db)
    member_id, device_id = member_with_device(db, t.branch_a.id, "zhang")
    write(db, *(position(member_id, device_id, day * 86400) for day in range(5)))
    cutoff = positions.retention_cutoff(now=T0 + timedelta(days=4, hours=1), retention_days=2)
    assert cutoff == T0 + timedelta(days=2, hours=1)
    assert positions.purge_positions(db, received_before=cutoff) == 3
    assert len(tracks.list_positions(db)) == 2
    assert len(latest.latest_positions(db)) == 1  # the latest position outlives the history
    assert positions.retention_cutoff(now=T0, retention_days=0) is None


def test_fixes_convert_one_by_one_and_in_bulk_alike() -> None:
    items = [position(1, 2, 0), position(None, 3, 1, "no_fix", lat=None, lon=None)]
    batch = PositionBatch.from_positions(items)
    columns = batch.columns()
    assert columns["rejections"] == [None, "no_fix"]
    assert columns["sats_beidou"] == [6, None]
    assert columns["lat"] == [30.5, None]
    assert columns["fix_time"] == [fix(0).time, T0 + timedelta(seconds=1)]
    assert columns["received_at"][0].tzinfo is UTC


def random_fix(rng: random.Random, *, as_decoded: bool = False) -> Fix:
    """A fix anywhere in the century to the microsecond, each value missing about a third of the
    time. ``as_decoded``: as the decoder makes them (a mode that agrees with the position,
    per-constellation counts listed only when seen, a receipt that may be unknown)."""

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.3 else value

    when = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(
        microseconds=rng.randrange(100 * 365 * 86400 * 10**6)
    )
    located = rng.random() < 0.8
    sats = {c: rng.randrange(int(as_decoded), 13) for c in Constellation if rng.random() < 0.5}
    if as_decoded:
        mode = rng.choice([FixMode.TWO_D, FixMode.THREE_D]) if located else FixMode.NO_FIX
    else:
        mode = rng.choice(list(FixMode))
    received = when + timedelta(microseconds=rng.randrange(10**7))
    return Fix(
        time=when,
        lat=rng.uniform(-90, 90) if located else None,
        lon=rng.uniform(-180, 180) if located else None,
        alt_m=maybe(rng.uniform(-50, 5000)),
        mode=mode,
        quality=rng.choice(list(FixQuality)),
        hdop=maybe(rng.uniform(0.5, 20)),
        pdop=maybe(rng.uniform(0.5, 20)),
        sats_used=maybe(sum(sats.values())),
        sats_used_by_system=sats,
        speed_mps=maybe(rng.uniform(0, 40)),
        course_deg=maybe(rng.uniform(0, 360)),
        accuracy_m=maybe(rng.uniform(0.1, 100)),
        received_at=maybe(received) if as_decoded else received,
    )


def test_a_batch_mixing_every_kind_of_row_round_trips(db: Session) -> None:
    # Each row is its own mix of missing values, sources and reasons, and its times fall
    # anywhere in the century to the microsecond: the write path groups rows by shape.
    rng = random.Random(7)
    t = tree(db)
    member_id, _ = member_with_device(db, t.branch_a.id, "zhang")
    reasons = ("no_fix", "too_few_sats", "hdop_too_high", "stale", "duplicate", "replayed")
    sources = ("tcp", "mqtt", "replay:工地-7.nmea", "http")

    written = []
    for i in range(400):
        fix_ = random_fix(rng)
        rejected = tuple(rng.sample(reasons, rng.randrange(3)))
        written.append(
            NewPosition(
                device_id=100_000 + i,
                member_id=member_id if rng.random() < 0.7 else None,
                fix=fix_,
                received_at=fix_.received_at,  # type: ignore[arg-type]
                source=rng.choice(sources),
                rejections=rejected,
            )
        )
    assert write(db, *written) == len(written)
    stored = {p.device_id: p for p in tracks.list_positions(db, limit=None)}
    for sent in written:
        got = stored[sent.device_id]
        assert (got.member_id, got.received_at, got.source, got.rejections) == (
            sent.member_id,
            sent.received_at,
            sent.source,
            sent.rejections,
        )
        assert got.fix == sent.fix


def test_a_fix_table_is_stored_as_its_fixes_are_one_by_one(db: Session) -> None:
    # The ingestion pipeline hands the store its FixTable (write_fixes); the same fixes as
    # NewPositions (write_positions) must become the same rows, field for field.
    rng = random.Random(11)
    t = tree(db)
    member_id, _ = member_with_device(db, t.branch_a.id, "zhang")
    now_s = (T0 + timedelta(hours=1, microseconds=250)).timestamp()
    n = 300

    fixes, members, masks, sources = [], [], [], []
    for _ in range(n):
        fixes.append(random_fix(rng, as_decoded=True))
        members.append(member_id if rng.random() < 0.7 else -1)
        masks.append(rng.choice([0, 0, 1, 6, 1 << 6]))
        sources.append(rng.choice(("tcp", "mqtt", "replay:工地-7.nmea", "jt808")))
    table = FixTable.from_fixes(fixes, np.arange(200_000, 200_000 + n))
    written = write_fixes(
        db,
        fixes=table,
        member_ids=np.array(members, np.int64),
        reasons=np.array(masks, np.uint16),
        sources=np.array(sources, dtype=object),
        now_s=now_s,
    )
    now = datetime.fromtimestamp(now_s, UTC)
    one_by_one = [
        NewPosition(
            device_id=100_000 + i,
            member_id=None if members[i] < 0 else members[i],
            fix=f,
            received_at=f.received_at or now,
            source=sources[i],
            rejections=reason_names(masks[i]),
        )
        for i, f in enumerate(fixes)
    ]
    assert written == write(db, *one_by_one) == n
    stored = {p.device_id: p for p in tracks.list_positions(db, limit=None)}
    for i in range(n):
        fast, reference = stored[200_000 + i], stored[100_000 + i]
        assert (fast.member_id, fast.received_at, fast.source, fast.rejections, fast.fix) == (
            reference.member_id,
            reference.received_at,
            reference.source,
            reference.rejections,
            reference.fix,
        )
