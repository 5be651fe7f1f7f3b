"""Visits and check-ins from presence events: evidence kept, replays idempotent."""

from __future__ import annotations

from datetime import timedelta

from shapely.geometry import Point
from sqlalchemy.orm import Session

from geo.model import CheckIn, Evidence, Visit, VisitEnded
from gnss.model import Constellation, FixQuality
from store import members, sites, visits
from tests.store.helpers import T0, tree

EVIDENCE = Evidence(
    fix_times=(T0, T0 + timedelta(seconds=120)),
    quality=FixQuality.DGPS,
    hdop=0.8,
    accuracy_m=3.5,
    sats_used_by_system={Constellation.BEIDOU: 7, Constellation.GPS: 5},
    rule_results={"no_fix": True, "hdop_too_high": True},
    fix_count=13,
)


def setup(db: Session) -> tuple[int, int, int]:
    t = tree(db)
    member = members.create_member(db, org_id=t.branch_a.id, name="张三")
    site = sites.create_site(
        db, org_id=t.branch_a.id, name="活动室", geometry=Point(114.3, 30.5), radius_m=50.0
    )
    return member.id, site.id, t.committee.id


def test_a_check_in_opens_a_visit_with_its_evidence(db: Session) -> None:
    member_id, site_id, _ = setup(db)
    checkin = CheckIn(member_id=member_id, site_id=site_id, time=T0, evidence=EVIDENCE)
    row = visits.record_checkin(db, checkin=checkin)
    db.commit()
    assert (row.start_at, row.end_at, row.checkin_at, row.beidou_verified) == (T0, None, T0, True)
    assert visits.as_checkin(visits.get_visit(db, visit_id=row.id)) == checkin
    assert visits.open_visits(db) == [Visit(member_id, site_id, T0, None, T0, True)]


def test_the_end_closes_the_same_visit_and_replays_change_nothing(db: Session) -> None:
    member_id, site_id, _ = setup(db)
    checkin = CheckIn(member_id=member_id, site_id=site_id, time=T0, evidence=EVIDENCE)
    end = T0 + timedelta(minutes=50)
    ended = VisitEnded(member_id, site_id, start=T0, end=end, checked_in=True)
    assert visits.record_presence_events(db, events=[checkin, ended, checkin, ended]) == 4
    (row,) = visits.list_visits(db, member_id=member_id)
    assert (row.start_at, row.end_at, row.checkin_at) == (T0, end, T0)
    assert visits.open_visits(db) == []


def test_a_stay_without_check_in_is_recorded_closed(db: Session) -> None:
    member_id, site_id, _ = setup(db)
    ended = VisitEnded(
        member_id, site_id, start=T0, end=T0 + timedelta(seconds=60), checked_in=False
    )
    row = visits.record_visit_end(db, ended=ended)
    assert (row.checkin_at, row.beidou_verified, row.evidence) == (None, False, None)
    assert visits.as_checkin(row) is None
    assert visits.list_checkins(db) == []
    assert [v.id for v in visits.list_visits(db, checked_in=False)] == [row.id]


def test_lists_filter_by_time_scope_and_beidou(db: Session) -> None:
    member_id, site_id, committee_id = setup(db)
    day = timedelta(days=1)
    for n in range(3):
        start = T0 + n * day
        evidence = EVIDENCE if n != 1 else Evidence(sats_used_by_system={Constellation.GPS: 9})
        visits.record_checkin(db, checkin=CheckIn(member_id, site_id, start, evidence=evidence))
        if n < 2:
            visits.record_visit_end(
                db, ended=VisitEnded(member_id, site_id, start, start + timedelta(hours=1), True)
            )
    on_day_2 = visits.list_visits(db, start=T0 + day, end=T0 + day + timedelta(hours=2))
    assert [v.start_at for v in on_day_2] == [T0 + day]
    # The third visit is still going on: it overlaps any later window.
    later = visits.list_visits(db, start=T0 + 10 * day, end=T0 + 11 * day)
    assert [v.start_at for v in later] == [T0 + 2 * day]
    assert [c.checkin_at for c in visits.list_checkins(db, beidou_verified=False)] == [T0 + day]
    newest_first = visits.list_checkins(db, within_org_id=committee_id)
    assert [c.checkin_at for c in newest_first] == [T0 + 2 * day, T0 + day, T0]
    assert [c.checkin_at for c in visits.list_checkins(db, start=T0 + day, limit=1)] == [
        T0 + 2 * day
    ]
    other = tree(db).committee2.id
    assert visits.list_visits(db, within_org_id=other) == []


def test_visits_overlapping_a_meeting_window(db: Session) -> None:
    member_id, site_id, _ = setup(db)
    other = members.create_member(
        db, org_id=members.get_member(db, member_id=member_id).org_id, name="李四"
    )
    visits.record_visit_end(
        db, ended=VisitEnded(member_id, site_id, T0, T0 + timedelta(minutes=30), checked_in=True)
    )
    visits.record_checkin(db, checkin=CheckIn(other.id, site_id, T0 - timedelta(hours=5)))
    window = (T0 + timedelta(minutes=10), T0 + timedelta(hours=1))
    found = visits.visits_overlapping(
        db, site_id=site_id, member_ids=[member_id, other.id], start=window[0], end=window[1]
    )
    assert {v.member_id for v in found} == {member_id, other.id}
    assert (
        visits.visits_overlapping(
            db,
            site_id=site_id,
            member_ids=[member_id],
            start=T0 + timedelta(hours=2),
            end=T0 + timedelta(hours=3),
        )
        == []
    )
    assert visits.visits_overlapping(db, site_id=site_id, member_ids=[], start=T0, end=T0) == []
