"""A visit rests on the evidence of the source that made it: a JT/T 808 terminal's fixes are
``terminal``, a phone's are ``phone`` — never a receiver's ``beidou`` — and the site's policy
counts them as it says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from shapely.geometry import Point
from sqlalchemy.orm import Session

from geo.model import (
    AttendanceOutcome,
    CheckIn,
    Evidence,
    EvidenceKind,
    EvidencePolicy,
    MeetingKind,
)
from gnss.model import Constellation, Fix, FixMode, FixQuality
from store import attendance, checkins, devices, meetings, members, sites, visits
from store.positions import NewPosition, PositionBatch, write_positions
from store.visit_writes import write_presence_events
from tests.store.helpers import T0, tree

START = T0 + timedelta(hours=2)
ARRIVED = START - timedelta(minutes=5)
SOURCES = ("tcp", "jt808", "phone")


def beidou_checkin(member: int, site: int) -> CheckIn:
    # What presence makes of fixes that each claim 8 BeiDou satellites, whoever sent them.
    evidence = Evidence(
        fix_times=(ARRIVED, ARRIVED + timedelta(minutes=2)),
        sats_used_by_system={Constellation.BEIDOU: 8},
        fix_count=5,
    )
    return CheckIn(member, site, ARRIVED, evidence)


def arrive(db: Session, *, bulk: bool) -> tuple[int, int, list[int]]:
    """Three members arrive at an office with 8 BeiDou satellites claimed: by a receiver's
    NMEA over TCP, by a JT/T 808 terminal, by a phone."""
    t = tree(db)
    site = sites.create_site(
        db, org_id=t.branch_a.id, name="项目部", geometry=Point(114.3, 30.5), radius_m=40.0
    ).id
    people = [members.create_member(db, org_id=t.branch_a.id, name=n).id for n in "甲乙丙"]
    rows = []
    for member, source in zip(people, SOURCES, strict=True):
        protocol = devices.JT808 if source == "jt808" else devices.NMEA
        device = devices.create_device(
            db, uid=f"01380000{member:04d}", member_id=member, protocol=protocol
        )
        for at in (ARRIVED, ARRIVED + timedelta(minutes=2)):
            fix = Fix(
                time=at,
                lat=30.5,
                lon=114.3,
                mode=FixMode.THREE_D,
                quality=FixQuality.GPS,
                sats_used=8,
                accuracy_m=5.0,
            )
            rows.append(NewPosition(device.id, member, fix, at, source))
    write_positions(db, batch=PositionBatch.from_positions(rows))
    events = [beidou_checkin(m, site) for m in people]
    if bulk:
        write_presence_events(db, events=events)
    else:
        visits.record_presence_events(db, events=events)
    meeting = meetings.create_meeting(
        db,
        org_id=t.branch_a.id,
        site_id=site,
        kind=MeetingKind.BRANCH_GENERAL_MEETING,
        start=START,
        end=START + timedelta(hours=1),
    )
    return site, meeting.id, people


@pytest.mark.parametrize("bulk", [True, False], ids=["pipeline", "per_event"])
def test_visits_carry_the_evidence_of_the_source_that_made_them(db: Session, bulk: bool) -> None:
    site, _, people = arrive(db, bulk=bulk)
    db.expire_all()
    rows = {v.member_id: v for v in visits.list_visits(db, site_id=site, limit=None)}
    kinds = [visits.as_visit(rows[m]).evidence_kind for m in people]
    assert kinds == [EvidenceKind.BEIDOU, EvidenceKind.TERMINAL, EvidenceKind.PHONE]
    checkin = visits.as_checkin(rows[people[1]])
    assert checkin is not None and checkin.evidence.kind is EvidenceKind.TERMINAL
    assert rows[people[1]].evidence is not None and rows[people[1]].evidence["kind"] == "terminal"


def test_a_beidou_site_counts_a_terminal_but_never_a_phone_made_visit(db: Session) -> None:
    site, meeting, (receiver, terminal, phone) = arrive(db, bulk=True)
    assert checkins.site_policy(db, site_id=site) is EvidencePolicy.BEIDOU
    attendance.record_meeting(db, meeting_id=meeting, now=START + timedelta(hours=2))
    got = {
        a.member_id: (a.outcome, a.evidence)
        for a in meetings.list_attendance(db, meeting_id=meeting)
    }
    assert got == {
        receiver: (AttendanceOutcome.PRESENT, EvidenceKind.BEIDOU),
        terminal: (AttendanceOutcome.PRESENT, EvidenceKind.TERMINAL),
        phone: (AttendanceOutcome.ABSENT, None),
    }
    checkins.set_site_policy(db, site_id=site, policy=EvidencePolicy.ANY)
    attendance.record_meeting(db, meeting_id=meeting, now=START + timedelta(hours=2), again=True)
    phone_now = meetings.list_attendance(db, meeting_id=meeting)[2]
    assert (phone_now.outcome, phone_now.evidence) == (
        AttendanceOutcome.PRESENT,
        EvidenceKind.PHONE,
    )
