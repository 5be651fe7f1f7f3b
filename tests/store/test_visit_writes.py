"""Bulk presence events: the same visits as the per-event repository, on both databases."""

from __future__ import annotations

from datetime import timedelta

from shapely.geometry import Point
from sqlalchemy.orm import Session

from geo.model import CheckIn, Evidence, VisitEnded
from gnss.model import Constellation
from store import members, sites, visits
from store.visit_writes import write_presence_events
from tests.store.helpers import T0, tree

BEIDOU = Evidence(sats_used_by_system={Constellation.BEIDOU: 6}, fix_count=4, fix_times=(T0,))


def visit_rows(db: Session) -> list[tuple[object, ...]]:
    return sorted(
        (v.member_id, v.site_id, v.start_at, v.end_at, v.checkin_at, v.beidou_verified, v.evidence)
        for v in visits.list_visits(db, limit=None)
    )


def events(member: int, other: int, site: int) -> list[list[CheckIn | VisitEnded]]:
    """Batches of events: check-ins, ends of checked-in and of never-checked-in stays, an end
    whose check-in came in an earlier batch, and a batch replayed after a crash."""
    minute = timedelta(minutes=1)
    first = [
        CheckIn(member, site, T0, BEIDOU),
        VisitEnded(other, site, T0, T0 + minute, checked_in=False),
        CheckIn(other, site, T0 + 5 * minute, Evidence()),
    ]
    second = [
        VisitEnded(member, site, T0, T0 + 50 * minute, checked_in=True),
        VisitEnded(other, site, T0 + 5 * minute, T0 + 9 * minute, checked_in=True),
        VisitEnded(member, site, T0 + 60 * minute, T0 + 70 * minute, checked_in=True),
        CheckIn(member, site, T0 + 80 * minute, BEIDOU),
    ]
    return [first, second, second]


def test_bulk_writes_give_the_visits_of_the_per_event_path(db: Session) -> None:
    t = tree(db)
    a = members.create_member(db, org_id=t.branch_a.id, name="张三").id
    b = members.create_member(db, org_id=t.branch_a.id, name="李四").id
    site = sites.create_site(
        db, org_id=t.branch_a.id, name="活动室", geometry=Point(114.3, 30.5), radius_m=50.0
    ).id
    db.commit()
    for batch in events(a, b, site):
        visits.record_presence_events(db, events=batch)
    expected = visit_rows(db)
    db.rollback()
    assert visit_rows(db) == []
    for batch in events(a, b, site):
        assert write_presence_events(db, events=batch) == len(batch)
    db.flush()
    db.expire_all()
    assert visit_rows(db) == expected
    assert len(expected) == 5
