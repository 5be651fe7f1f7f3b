"""Presence scenarios from synthetic tracks with known truth; each runs through both paths."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import Point

from geo.coords import LocalFrame
from geo.model import CheckIn, QualityThresholds, Site, VisitEnded
from geo.presence.batch import PresenceTracker
from geo.presence.reference import ReferenceTracker
from geo.quality.rules import DeviceTrack, check_quality
from geo.sites.membership import SiteIndex
from gnss.fixtable import FixTable
from tests.geo.helpers import T0, at, fix, kinds, line, run_both, track

WUHAN = LocalFrame.at(lon=114.2655, lat=30.6190)
BEIJING = LocalFrame.at(lon=116.3975, lat=39.9087)
YARD = 1  # 100 m × 60 m project yard centred on WUHAN's origin
ROOM = 2  # meeting room: a 15 m circle 200 m east of the yard
BEIJING_CENTRE = 3


def yard_polygon() -> shapely.Polygon:
    return shapely.Polygon(
        [WUHAN.to_lonlat(x, y) for x, y in [(-50, -30), (50, -30), (50, 30), (-50, 30)]]
    )


def sites(*, room_x: float = 200.0, room_radius: float = 15.0) -> SiteIndex:
    """The yard, a meeting room ``room_x`` metres east of its centre, and a Beijing centre."""
    room = Point(WUHAN.to_lonlat(room_x, 0))
    centre = Point(BEIJING.lon0, BEIJING.lat0)
    return SiteIndex.build(
        [
            Site(id=YARD, org_id=1, name="yard", geometry=yard_polygon()),
            Site(id=ROOM, org_id=1, name="room", geometry=room, radius_m=room_radius),
            Site(id=BEIJING_CENTRE, org_id=2, name="centre", geometry=centre, radius_m=40.0),
        ]
    )


SPLITS = [(), (7,), (1, 1, 1, 5, 13)]


def run(stream, **kwargs):  # type: ignore[no-untyped-def]
    """All batch splits must give the reference's events; return them."""
    results = [run_both(sites(), stream, batches=s, **kwargs) for s in SPLITS]
    assert all(r == results[0] for r in results)
    return results[0]


def test_walk_in_and_stay_checks_in_at_the_first_inside_fix() -> None:
    walk = line(0, 200, 5, (-330, 0), (-50, 0)) + line(205, 900, 5, (-45, 0), (-45, 0))
    fixes = track(WUHAN, walk, accuracy_m=3.0)
    events = run([(7, f) for f in fixes])
    # Tolerance 2σ = 6 m: the first fix within 6 m of the west edge (x ≥ −56 m) is the arrival.
    first_inside = next(f for (t, x, _), f in zip(walk, fixes, strict=True) if x >= -56)
    assert kinds(events) == ["checkin"]
    checkin = events[0]
    assert isinstance(checkin, CheckIn)
    assert checkin.site_id == YARD and checkin.time == first_inside.time
    assert checkin.beidou_verified and checkin.evidence.fix_count > 20
    assert checkin.evidence.fix_times[0] == first_inside.time


def test_walking_past_never_checks_in() -> None:
    through = line(0, 200, 2, (-140, 0), (140, 0))  # 72 s inside at 1.4 m/s: less than dwell
    alongside = line(0, 200, 2, (-140, 45), (140, 45))  # 15 m off the north edge: "between"
    events = run(
        [(1, f) for f in track(WUHAN, through)] + [(2, f) for f in track(WUHAN, alongside)]
    )
    assert kinds(events) == ["pass"]  # member 1 passed through; member 2 changed nothing
    assert events[0].member_id == 1


def test_half_an_hour_of_jitter_on_the_boundary_adds_no_visit() -> None:
    standing = [(float(t), 50.0, 0.0) for t in range(0, 1800)]  # 1 Hz on the east edge
    fixes = track(WUHAN, standing, noise_m=5.0, accuracy_m=5.0, seed=3)
    events = run([(5, f) for f in fixes])
    assert kinds(events) == ["checkin"]
    # Without margins and hysteresis the same track would flap hundreds of times.
    inside = shapely.covers(yard_polygon(), shapely.points([(f.lon, f.lat) for f in fixes]))
    assert np.count_nonzero(inside[1:] != inside[:-1]) > 200


def test_a_teleport_spoof_is_rejected_and_the_real_visit_holds() -> None:
    honest = track(WUHAN, [(float(t), 0.0, 0.0) for t in range(0, 300, 10)])
    spoofed = track(BEIJING, [(float(t), 0.0, 0.0) for t in range(305, 900, 10)])
    stream = [(4, f) for f in honest + spoofed]
    events = run(stream)
    assert [(type(e).__name__, e.site_id) for e in events] == [("CheckIn", YARD)]
    state = DeviceTrack()
    for f in honest:
        _, state = check_quality(f, state, QualityThresholds(), at(1000))
    reasons, _ = check_quality(spoofed[0], state, QualityThresholds(), at(1000))
    assert reasons == ("impossible_speed",)


@pytest.mark.parametrize(
    ("where", "accuracy", "expected"),
    [
        ((205.0, 0.0), 0.02, ["checkin"]),  # RTK, in the room
        ((223.0, 0.0), 0.02, []),  # RTK, in the corridor 8 m outside the wall
        ((223.0, 0.0), 8.0, ["checkin"]),  # consumer module: 16 m tolerance covers the corridor
        ((265.0, 0.0), 8.0, []),  # consumer, 50 m away: 16 m tolerance + 20 m hysteresis
    ],
)
def test_rtk_resolves_a_30_m_room_that_a_consumer_module_cannot(
    where: tuple[float, float], accuracy: float, expected: list[str]
) -> None:
    points = [(float(t), *where) for t in range(0, 600, 5)]
    fixes = track(WUHAN, points, noise_m=accuracy, accuracy_m=accuracy, seed=11)
    events = run([(3, f) for f in fixes])
    assert kinds(events) == expected
    assert all(e.site_id == ROOM for e in events)


def test_a_ten_minute_gap_ends_an_arrival_but_not_a_presence() -> None:
    inside = WUHAN.to_lonlat(0, 0)
    arriving = [fix(0, *inside), fix(30, *inside), fix(630, *inside), fix(640, *inside)]
    present = [fix(t, *inside) for t in range(0, 200, 20)] + [fix(800, *inside), fix(810, *inside)]
    events = run([(1, f) for f in arriving] + [(2, f) for f in present])
    ended = [e for e in events if e.member_id == 1]
    assert kinds(ended) == ["pass"]
    assert isinstance(ended[0], VisitEnded)
    assert (ended[0].start, ended[0].end) == (at(0), at(30))  # ended at the last sign of life
    assert kinds([e for e in events if e.member_id == 2]) == ["checkin"]


def test_indoors_a_device_without_fix_is_alive_and_the_dwell_completes() -> None:
    door = fix(0, *WUHAN.to_lonlat(0, 0))
    talking = [fix(t, None, None) for t in range(5, 200, 5)]  # no fix, sentences keep coming
    events = run([(6, f) for f in [door, *talking]])
    assert kinds(events) == ["checkin"] and events[0].time == at(0)
    assert events[0].evidence.fix_count == 1


def test_late_buffered_fixes_fill_the_gap_and_stale_ones_change_nothing() -> None:
    inside = WUHAN.to_lonlat(0, 0)
    outside = WUHAN.to_lonlat(400, 0)
    live = [fix(0, *inside), fix(10, *inside)]
    # Offline from 10 s to 500 s; the buffer arrives at 500 s, in order, then live again.
    buffered = [fix(t, *inside, received_s=500) for t in range(20, 500, 20)]
    leave = [fix(t, *outside) for t in range(510, 700, 10)]
    stale = [fix(100, *inside, received_s=705)]  # an old inside fix delivered after leaving
    events = run([(8, f) for f in live + buffered + leave + stale])
    assert kinds(events) == ["checkin", "visit"]
    assert events[0].time == at(0) and events[1].end == at(510)


def test_two_overlapping_sites_are_tracked_independently() -> None:
    index = sites(room_x=20.0, room_radius=8.0)  # the room is inside the yard
    path = (
        line(0, 60, 5, (-120, 0), (-40, 0))
        + line(65, 700, 5, (20, 0), (20, 0))  # in the room (and so in the yard)
        + line(705, 1200, 5, (-30, 0), (-30, 0))  # back in the yard, out of the room
    )
    events = run_both(index, [(9, f) for f in track(WUHAN, path)], batches=(3, 50))
    by_site = {
        YARD: kinds(e for e in events if e.site_id == YARD),
        ROOM: kinds(e for e in events if e.site_id == ROOM),
    }
    assert by_site == {YARD: ["checkin"], ROOM: ["checkin", "visit"]}


def test_a_single_low_beidou_fix_withholds_the_beidou_verified_flag() -> None:
    inside = WUHAN.to_lonlat(0, 0)
    fixes = [fix(t, *inside, beidou=6) for t in range(0, 130, 10)]
    fixes[3] = fix(30, *inside, beidou=3)
    events = run([(2, f) for f in fixes])
    assert kinds(events) == ["checkin"] and not events[0].beidou_verified


def test_expire_ends_what_silence_left_undecided() -> None:
    index = sites()
    inside, outside = WUHAN.to_lonlat(0, 0), WUHAN.to_lonlat(400, 0)
    reference, batch = ReferenceTracker(index), PresenceTracker(index)
    stream = [(1, fix(0, *inside))] + [(2, fix(t, *inside)) for t in range(0, 130, 10)]
    stream += [(2, fix(200, *outside))]
    for member, f in stream:
        reference.observe(member, f, ())
    members = np.array([m for m, _ in stream])
    fixes = FixTable.from_fixes([f for _, f in stream], members)
    found = index.memberships(fixes.lat, fixes.lon, fixes.accuracy_m)
    batch.step(fixes, members, np.zeros(len(fixes), np.uint16), found)
    assert reference.expire(T0 + 250) == [] and len(batch.expire(T0 + 250)) == 0
    ended = reference.expire(T0 + 600)
    assert [(e.member_id, e.checked_in, e.end) for e in ended] == [
        (1, False, at(0)),
        (2, True, at(200)),
    ]
    assert batch.expire(T0 + 600).to_events() == ended
    assert reference.pairs == {1: {}, 2: {}} and len(batch.states()) == 0
