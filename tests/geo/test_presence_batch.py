"""The batch presence path equals the per-fix reference on random tracks, sites and batches."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import Point

from geo.coords import LocalFrame
from geo.model import CheckIn, Site, SiteParams, VisitEnded
from geo.presence.batch import PresenceTracker
from geo.sites.membership import SiteIndex
from gnss.fixtable import FixTable
from gnss.model import Fix
from tests.geo.helpers import at, both_paths, fix, run_both
from tests.geo.strategies import ACCURACIES, site_sets


@st.composite
def streams(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    frame, sites = draw(site_sets())
    clock = [0.0] * 4
    stream = []
    x, y = [0.0] * 4, [0.0] * 4
    for _ in range(draw(st.integers(1, 120))):
        member = draw(st.integers(0, 3))
        clock[member] += draw(st.sampled_from([0.0, 1.0, 5.0, 30.0, 90.0, 400.0, -20.0]))
        if draw(st.integers(0, 5)) == 0:  # jump somewhere else
            x[member], y[member] = draw(st.floats(-700, 1200)), draw(st.floats(-700, 700))
        else:  # walk
            x[member] += draw(st.floats(-40, 40))
            y[member] += draw(st.floats(-40, 40))
        if draw(st.integers(0, 6)) == 0:  # an epoch without fix
            stream.append((member, fix(clock[member], None, None)))
            continue
        lon, lat = frame.to_lonlat(x[member], y[member])
        quality = {
            "accuracy_m": draw(ACCURACIES),
            "sats": draw(st.sampled_from([3, 6, 12])),
            "beidou": draw(st.sampled_from([0, 3, 5])),
            "hdop": draw(st.sampled_from([0.7, 1.5, 4.0, 8.0])),
        }
        stream.append((member, fix(clock[member], lon, lat, **quality)))
    batches = draw(st.lists(st.integers(1, 30), max_size=5))
    return SiteIndex.build(sites), stream, batches


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=streams())
def test_batch_presence_equals_the_reference(case) -> None:  # type: ignore[no-untyped-def]
    index, stream, batches = case
    run_both(index, stream, batches=batches)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=streams())
def test_batch_events_come_in_the_reference_order(case) -> None:  # type: ignore[no-untyped-def]
    index, stream, batches = case
    reference, batch = both_paths(index, stream, batches=batches)
    assert batch == reference


def test_a_batch_with_more_events_and_visits_than_room_for_them() -> None:
    """Every member checks in at once (zero dwell): the event rows and the pair pool grow
    in the middle of the batch, and the check-ins come out in arrival order."""
    frame = LocalFrame.at(lon=114.3, lat=30.5)
    yard = Site(
        id=5,
        org_id=1,
        name="yard",
        geometry=Point(114.3, 30.5),
        radius_m=300.0,
        params=SiteParams(dwell_s=0.0),
    )
    room = Site(id=6, org_id=1, name="room", geometry=Point(114.3, 30.5), radius_m=40.0)
    rng = np.random.default_rng(7)
    xy = rng.uniform(-150, 150, (600, 2))
    stream = [
        (m, fix(float(m % 7), *frame.to_lonlat(float(x), float(y)))) for m, (x, y) in enumerate(xy)
    ]
    reference, batch = both_paths(SiteIndex.build([room, yard]), stream)
    assert batch == reference
    assert [e.member_id for e in batch if isinstance(e, CheckIn)] == list(range(600))


def test_state_stays_small_per_member() -> None:
    index = SiteIndex.build(
        [Site(id=1, org_id=1, name="yard", geometry=Point(114.3, 30.5), radius_m=200.0)]
    )
    tracker = PresenceTracker(index)
    n = 20_000
    rng = np.random.default_rng(1)
    members = np.arange(n, dtype=np.int64)
    lat = 30.5 + rng.uniform(-0.001, 0.001, n)
    fixes = replace(
        FixTable.blank(n),
        device=members,
        time_us=np.full(n, 1_770_000_000 * 10**6),
        lat=lat,
        lon=np.full(n, 114.3),
        mode=np.full(n, 3, np.int8),
        quality=np.ones(n, np.int8),
        sats_used=np.full(n, 9, np.int16),
        hdop=np.full(n, 0.9),
        accuracy_m=np.full(n, 3.0),
    )
    found = index.memberships(fixes.lat, fixes.lon, fixes.accuracy_m)
    tracker.step(fixes, members, np.zeros(n, np.uint16), found)
    assert len(tracker.states()) == n  # every member arriving at the yard
    # Two 68-byte slots a member, keys and registry: 140,000 members take ~30 MB.
    assert tracker.memory_bytes() / n < 250


def test_a_new_version_of_the_site_set_keeps_visits_by_site_id() -> None:
    yard = Site(id=1, org_id=1, name="yard", geometry=Point(114.3, 30.5), radius_m=100.0)
    room = Site(id=2, org_id=1, name="room", geometry=Point(114.31, 30.5), radius_m=20.0)
    tracker = PresenceTracker(SiteIndex.build([yard, room]))
    stream = [(1, fix(t, 114.3, 30.5)) for t in range(0, 150, 10)]  # checks in at the yard
    stream += [(2, fix(t, 114.31, 30.5)) for t in range(0, 30, 10)]  # still arriving in the room
    members = np.array([m for m, _ in stream])
    fixes = FixTable.from_fixes([f for _, f in stream], members)
    found = tracker.index.memberships(fixes.lat, fixes.lon, fixes.accuracy_m)
    events = tracker.step(fixes, members, np.zeros(len(fixes), np.uint16), found).to_events()
    assert [type(e) for e in events] == [CheckIn]
    # The room is removed and a new site comes first: the yard's visit carries on.
    new = Site(id=3, org_id=1, name="new", geometry=Point(114.32, 30.5), radius_m=20.0)
    ended = tracker.use_index(SiteIndex.build([new, yard])).to_events()
    assert ended == [VisitEnded(2, 2, at(0), at(20), checked_in=False)]
    assert set(tracker.states()) == {(1, 1)}
    more = FixTable.from_fixes([fix(200, 114.3, 30.5)], np.array([1]))
    found = tracker.index.memberships(more.lat, more.lon, more.accuracy_m)
    assert len(tracker.step(more, np.array([1]), np.zeros(1, np.uint16), found)) == 0
    assert tracker.states()[(1, 1)].count > 1


def step(tracker: PresenceTracker, stream: list[tuple[int, Fix]]) -> list[object]:
    members = np.array([m for m, _ in stream], np.int64)
    fixes = FixTable.from_fixes([f for _, f in stream], members)
    found = tracker.index.memberships(fixes.lat, fixes.lon, fixes.accuracy_m)
    return list(tracker.step(fixes, members, np.zeros(len(fixes), np.uint16), found).to_events())


def test_exported_pairs_restored_into_a_new_tracker_carry_on_alike() -> None:
    yard = Site(id=1, org_id=1, name="yard", geometry=Point(114.3, 30.5), radius_m=100.0)
    room = Site(id=2, org_id=1, name="room", geometry=Point(114.31, 30.5), radius_m=20.0)
    index = SiteIndex.build([yard, room])
    tracker = PresenceTracker(index)
    before = [(7, fix(t, 114.3, 30.5)) for t in range(0, 150, 10)]  # checked in at the yard
    before += [(9, fix(t, 114.31, 30.5)) for t in range(0, 30, 10)]  # arriving in the room
    step(tracker, before)
    members, sites, pairs = tracker.export_pairs()
    assert sorted(zip(members.tolist(), sites.tolist(), strict=True)) == [(7, 1), (9, 2)]

    restored = PresenceTracker(index, members=np.array([3, 9]))  # other rows than the first
    restored.restore_pairs(members, sites, pairs, {7: at(140).timestamp(), 9: at(20).timestamp()})
    assert repr(restored.states()) == repr(tracker.states())  # repr: NaN fields compare equal
    after = [(9, fix(t, 114.31, 30.5)) for t in range(30, 200, 10)]
    after += [(7, fix(t, 114.32, 30.5)) for t in range(150, 400, 10)]  # leaves the yard
    assert step(restored, after) == step(tracker, after) != []
    assert repr(restored.states()) == repr(tracker.states())
