"""Scheduling, editing, cancelling and finding meetings; cancelling keeps the history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from shapely.geometry import Point
from sqlalchemy.orm import Session

from geo.model import MeetingKind
from store import leave, meetings, members, sites
from store.attendance import record_meeting
from store.errors import ConflictError, InvalidValueError
from store.meetings import MeetingState
from store.models import MeetingStatus
from tests.store.helpers import T0, Tree, tree

START = T0 + timedelta(days=10)
END = START + timedelta(hours=1)


def setup(db: Session) -> tuple[Tree, int]:
    t = tree(db)
    site = sites.create_site(
        db,
        org_id=t.branch_a.id,
        name="内罗毕营地会议室",
        geometry=Point(36.82, -1.32),
        radius_m=30.0,
        tz="Africa/Nairobi",
    )
    return t, site.id


def schedule(db: Session, t: Tree, site_id: int | None, **kw: object) -> int:
    args: dict[str, object] = {
        "org_id": t.branch_a.id,
        "site_id": site_id,
        "kind": MeetingKind.BRANCH_COMMITTEE_MEETING,
        "start": START,
        "end": END,
        **kw,
    }
    return meetings.create_meeting(db, **args).id  # type: ignore[arg-type]


def test_a_meeting_takes_its_sites_zone_and_one_without_a_site_needs_one(db: Session) -> None:
    t, site_id = setup(db)
    at_site = meetings.get_meeting_info(db, meeting_id=schedule(db, t, site_id))
    assert at_site.tz == "Africa/Nairobi" and at_site.status is MeetingStatus.SCHEDULED
    assert at_site.state(START - timedelta(minutes=1)) is MeetingState.UPCOMING
    assert at_site.state(START) is MeetingState.IN_PROGRESS
    assert at_site.state(END) is MeetingState.ENDED
    by_hand = meetings.get_meeting_info(
        db, meeting_id=schedule(db, t, None, tz="Asia/Jakarta", topic="学习党章")
    )
    assert (by_hand.meeting.site_id, by_hand.tz, by_hand.topic) == (
        None,
        "Asia/Jakarta",
        "学习党章",
    )
    with pytest.raises(InvalidValueError, match="needs a time zone"):
        schedule(db, t, None)
    with pytest.raises(InvalidValueError, match="unknown IANA time zone"):
        schedule(db, t, None, tz="Mars/Olympus")
    with pytest.raises(InvalidValueError, match="at most a day"):
        schedule(db, t, site_id, end=START + timedelta(days=2))


def test_editing_clears_fields_and_is_refused_when_cancelled_or_held(db: Session) -> None:
    t, site_id = setup(db)
    host = members.create_member(db, org_id=t.branch_a.id, name="书记").id
    meeting_id = schedule(db, t, site_id, host_member_id=host, recorder_member_id=host)
    meetings.update_meeting(
        db, meeting_id=meeting_id, clear={"site_id", "host_member_id"}, title="改在线上"
    )
    info = meetings.get_meeting_info(db, meeting_id=meeting_id)
    assert (info.meeting.site_id, info.host_member_id, info.recorder_member_id) == (
        None,
        None,
        host,
    )
    assert info.tz == "Africa/Nairobi"  # the zone it was planned in stays
    with pytest.raises(InvalidValueError, match="cannot clear"):
        meetings.update_meeting(db, meeting_id=meeting_id, clear={"org_id"})
    cancelled = meetings.cancel_meeting(
        db, meeting_id=meeting_id, reason="书记外出", actor="ba", now=START - timedelta(days=1)
    )
    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancel_reason) == (
        MeetingStatus.CANCELLED,
        "ba",
        "书记外出",
    )
    assert cancelled.state(END) is MeetingState.CANCELLED
    with pytest.raises(ConflictError, match="cancelled"):
        meetings.update_meeting(db, meeting_id=meeting_id, title="再改")
    with pytest.raises(ConflictError, match="already cancelled"):
        meetings.cancel_meeting(db, meeting_id=meeting_id, reason="再次", actor="ba")


def test_a_recorded_meeting_keeps_its_time_and_place(db: Session) -> None:
    t, site_id = setup(db)
    meeting_id = schedule(db, t, site_id)
    with pytest.raises(ConflictError, match="once it has ended"):
        record_meeting(db, meeting_id=meeting_id, now=END - timedelta(seconds=1))
    assert record_meeting(db, meeting_id=meeting_id, now=END) is not None
    assert record_meeting(db, meeting_id=meeting_id, now=END) is None  # recorded already
    meetings.update_meeting(db, meeting_id=meeting_id, title="会后补记标题")
    with pytest.raises(ConflictError, match="recorded"):
        meetings.update_meeting(db, meeting_id=meeting_id, start=START + timedelta(minutes=5))
    with pytest.raises(ConflictError, match="recorded"):
        meetings.cancel_meeting(db, meeting_id=meeting_id, reason="x", actor="ba")


def test_only_a_meeting_not_yet_started_and_untouched_can_be_deleted(db: Session) -> None:
    t, site_id = setup(db)
    before = START - timedelta(days=1)
    plain = schedule(db, t, site_id)
    meetings.delete_meeting(db, meeting_id=plain, now=before)
    started = schedule(db, t, site_id)
    with pytest.raises(ConflictError, match="cancel it instead"):
        meetings.delete_meeting(db, meeting_id=started, now=START)
    member = members.create_member(db, org_id=t.branch_a.id, name="请假的").id
    with_leave = schedule(db, t, site_id)
    leave.record_leave(
        db, meeting_id=with_leave, member_id=member, reason="出差", actor="ba",
        approved=True, now=before,
    )  # fmt: skip
    with pytest.raises(ConflictError, match="cancel it instead"):
        meetings.delete_meeting(db, meeting_id=with_leave, now=before)


def test_history_by_range_state_kind_and_subtree_newest_first(db: Session) -> None:
    t, site_id = setup(db)
    ids = [
        schedule(db, t, site_id, start=START + timedelta(days=d), end=END + timedelta(days=d))
        for d in range(4)
    ]
    lecture = schedule(
        db,
        t,
        site_id,
        kind=MeetingKind.PARTY_LECTURE,
        start=START + timedelta(days=5),
        end=END + timedelta(days=5),
    )
    meetings.cancel_meeting(db, meeting_id=ids[1], reason="改期", actor="ba")
    now = START + timedelta(days=2, minutes=30)  # during the third meeting

    def found(**kw: object) -> list[int]:
        return [i.meeting.id for i in meetings.find_meetings(db, now=now, **kw)]  # type: ignore[arg-type]

    assert found(states=[MeetingState.ENDED]) == [ids[0]]
    assert found(states=[MeetingState.CANCELLED]) == [ids[1]]
    assert found(states=[MeetingState.IN_PROGRESS]) == [ids[2]]
    assert found(states=[MeetingState.UPCOMING]) == [ids[3], lecture]
    assert found(states=[]) == []
    assert found(kind=MeetingKind.PARTY_LECTURE) == [lecture]
    assert found(newest_first=True, limit=2) == [lecture, ids[3]]
    assert found(newest_first=True, limit=2, offset=2) == [ids[2], ids[1]]
    assert found(start=START + timedelta(days=1), end=START + timedelta(days=3)) == ids[1:3]
    assert found(within_org_id=t.general.id) == [*ids, lecture]
    assert found(within_org_id=t.committee2.id) == []
    assert found(org_ids=[t.branch_b.id]) == []
