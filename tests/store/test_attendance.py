"""Attendance live, recorded and corrected: pending until the end, leave excuses, the
recording is claimed once, corrections stand beside the automatic decision, absence runs and
the alerts they raise."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.model import AttendanceOutcome as S
from geo.model import CheckIn, EvidenceKind, MeetingKind, VisitEnded
from store import attendance, leave, meetings, members, sites, visits
from store.alerts import AlertRules
from store.db import make_engine
from store.errors import ConflictError, InvalidValueError
from store.migrations import upgrade
from store.models import AlertRow, AttendanceRow
from tests.store.conftest import ScratchDatabases
from tests.store.helpers import T0, Tree, tree

START = T0 + timedelta(hours=2)
END = START + timedelta(hours=1)
RULES = AlertRules(absent_streak=2, min_rate=0.5)


def setup(db: Session, people: str = "甲乙丙丁") -> tuple[Tree, int, list[int]]:
    t = tree(db)
    site = sites.create_site(
        db, org_id=t.branch_a.id, name="活动室", geometry=Point(114.3, 30.5), radius_m=40.0
    )
    return t, site.id, [members.create_member(db, org_id=t.branch_a.id, name=n).id for n in people]


def meeting(db: Session, t: Tree, site_id: int | None, days: int = 0) -> int:
    return meetings.create_meeting(
        db,
        org_id=t.branch_a.id,
        site_id=site_id,
        kind=MeetingKind.BRANCH_GENERAL_MEETING,
        start=START + timedelta(days=days),
        end=END + timedelta(days=days),
        tz="Asia/Shanghai",
    ).id


def statuses(sheet: attendance.Sheet) -> list[tuple[int, S]]:
    return [(e.member_id, e.status) for e in sheet.entries]


def test_live_pending_then_absent_and_leave_excuses(db: Session) -> None:
    t, site_id, (a, b, c, d) = setup(db)
    m = meeting(db, t, site_id)
    visits.record_checkin(db, checkin=CheckIn(a, site_id, START - timedelta(minutes=3)))
    # c came and left half-way, with leave; d is on leave but came anyway.
    visits.record_visit_end(
        db, ended=VisitEnded(c, site_id, START, START + timedelta(minutes=20), checked_in=True)
    )
    visits.record_checkin(db, checkin=CheckIn(d, site_id, START + timedelta(minutes=2)))
    for who in (c, d):
        leave.record_leave(
            db, meeting_id=m, member_id=who, reason="请假", actor="ba", approved=True,
            now=START + timedelta(minutes=25),
        )  # fmt: skip
    during = attendance.attendance_sheet(db, meeting_id=m, now=START + timedelta(minutes=30))
    assert statuses(during) == [(a, S.PRESENT), (b, S.PENDING), (c, S.EXCUSED), (d, S.PRESENT)]
    assert [e.outcome for e in during.entries][2] is S.EXCUSED
    assert during.entries[0].evidence is EvidenceKind.GNSS  # no BeiDou evidence recorded
    assert during.summary().absent == 1  # pending counts as absent in numbers
    after = attendance.attendance_sheet(db, meeting_id=m, now=END)
    assert statuses(after)[1] == (b, S.ABSENT)
    assert not after.recorded


def test_requested_leave_excuses_nothing_until_approved(db: Session) -> None:
    t, site_id, (a, *_rest) = setup(db)
    m = meeting(db, t, site_id)
    asked = leave.record_leave(
        db, meeting_id=m, member_id=a, reason="病假", actor="mem", approved=False,
        now=START - timedelta(days=1),
    )  # fmt: skip
    assert attendance.attendance_sheet(db, meeting_id=m, now=END).entries[0].status is S.ABSENT
    leave.decide_leave(
        db, meeting_id=m, member_id=a, approve=True, actor="ba", now=START - timedelta(hours=1)
    )
    sheet = attendance.attendance_sheet(db, meeting_id=m, now=END)
    assert sheet.entries[0].status is S.EXCUSED and sheet.entries[0].leave is not None
    assert asked.status.value == "requested"
    with pytest.raises(ConflictError, match="has ended"):
        leave.record_leave(
            db, meeting_id=m, member_id=a, reason="x", actor="ba", approved=True, now=END
        )
    outsider = members.create_member(db, org_id=t.branch_b.id, name="外支部").id
    with pytest.raises(InvalidValueError, match="roll"):
        leave.record_leave(
            db, meeting_id=m, member_id=outsider, reason="x", actor="ba", approved=True,
            now=START,
        )  # fmt: skip


def test_recording_freezes_the_roll_and_corrections_stay_beside(db: Session) -> None:
    t, site_id, (a, b, c, d) = setup(db)
    m = meeting(db, t, site_id)
    visits.record_checkin(db, checkin=CheckIn(a, site_id, START - timedelta(minutes=3)))
    fixed = attendance.correct_attendance(
        db, meeting_id=m, member_id=b, status=S.LATE, reason="签到表", actor="ba",
        now=END + timedelta(minutes=1),
    )  # fmt: skip
    assert (fixed.old_status, fixed.new_status) == (S.ABSENT, S.LATE)
    sheet = attendance.record_meeting(db, meeting_id=m, now=END + timedelta(minutes=15))
    assert sheet is not None and sheet.recorded
    assert statuses(sheet) == [(a, S.PRESENT), (b, S.LATE), (c, S.ABSENT), (d, S.ABSENT)]
    row = db.scalars(select(AttendanceRow).where(AttendanceRow.member_id == b)).one()
    assert (row.outcome, row.status, row.correction_id) == (S.ABSENT, S.LATE, fixed.id)
    info = meetings.get_meeting_info(db, meeting_id=m)
    assert info.summary == meetings.Summary(
        expected=4, present=1, late=1, left_early=0, absent=2, excused=0
    )
    attendance.correct_attendance(
        db, meeting_id=m, member_id=c, status=S.EXCUSED, reason="事先请假", actor="ba",
        now=END + timedelta(hours=1),
    )  # fmt: skip
    summary = meetings.get_meeting_info(db, meeting_id=m).summary
    assert summary is not None and (summary.absent, summary.excused, summary.rate) == (1, 1, 0.5)
    stored = attendance.attendance_sheet(db, meeting_id=m)
    assert [(e.member_id, e.status, e.evidence) for e in stored.entries if e.correction] == [
        (b, S.LATE, EvidenceKind.MANUAL),
        (c, S.EXCUSED, EvidenceKind.MANUAL),
    ]
    newcomer = members.create_member(db, org_id=t.branch_a.id, name="新党员").id
    again = attendance.record_meeting(db, meeting_id=m, now=END + timedelta(hours=2), again=True)
    assert again is not None and newcomer not in {e.member_id for e in again.entries}
    assert statuses(again)[1:3] == [(b, S.LATE), (c, S.EXCUSED)]  # corrections in force
    with pytest.raises(ConflictError, match="already late"):
        attendance.correct_attendance(
            db, meeting_id=m, member_id=b, status=S.LATE, reason="x", actor="ba"
        )


def test_absence_runs_and_the_alerts_they_raise(db: Session) -> None:
    t, site_id, (a, b) = setup(db, "甲乙")
    ids = [meeting(db, t, site_id, days=d) for d in range(4)]
    visits.record_checkin(db, checkin=CheckIn(a, site_id, START - timedelta(minutes=3)))
    visits.record_visit_end(
        db, ended=VisitEnded(a, site_id, START - timedelta(minutes=3), END, checked_in=True)
    )
    for n, m in enumerate(ids[:3]):
        attendance.record_meeting(db, meeting_id=m, now=END + timedelta(days=n), rules=RULES)
    assert attendance.absence_runs(db, member_ids=[a, b]) == {a: 2, b: 3}
    alerts = db.scalars(select(AlertRow).order_by(AlertRow.id)).all()
    # a's run reached 2 at the third meeting; b's at the second; every meeting after the first
    # was below half (first: a present, b absent = 50 %, not below).
    assert [(x.kind, x.member_id, x.meeting_id) for x in alerts] == [
        ("absent_streak", b, ids[1]),
        ("low_attendance", None, ids[1]),
        ("absent_streak", a, ids[2]),
        ("low_attendance", None, ids[2]),
    ]
    attendance.correct_attendance(
        db, meeting_id=ids[2], member_id=b, status=S.EXCUSED, reason="补假", actor="ba",
        now=END + timedelta(days=3), rules=RULES,
    )  # fmt: skip
    assert attendance.absence_runs(db, member_ids=[b]) == {b: 0}
    assert attendance.refresh_absence_runs(db, member_ids=[]) == {}
    # Raising the same alert again changes nothing.
    attendance.record_meeting(db, meeting_id=ids[2], now=END + timedelta(days=3), again=True,
                              rules=RULES)  # fmt: skip
    assert db.scalar(select(func.count()).select_from(AlertRow)) == 4


@pytest.mark.postgis
def test_concurrent_recorders_record_a_meeting_once(scratch_postgis: ScratchDatabases) -> None:
    """Several processes run the recording task: exactly one records each meeting."""
    engine = make_engine(scratch_postgis.create())
    upgrade(engine)
    with Session(engine) as db:
        t, site_id, _people = setup(db)
        ids = [meeting(db, t, site_id, days=d) for d in range(6)]
        db.commit()
    barrier = threading.Barrier(3)
    recorded: list[int] = []
    lock = threading.Lock()

    def recorder() -> None:
        barrier.wait()
        with Session(engine) as db:
            for m in ids:
                if attendance.record_meeting(db, meeting_id=m, now=END + timedelta(days=9)):
                    with lock:
                        recorded.append(m)
                db.commit()

    threads = [threading.Thread(target=recorder) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with Session(engine) as db:
        rows = db.scalar(select(func.count()).select_from(AttendanceRow))
    engine.dispose()
    assert sorted(recorded) == ids
    assert rows == 4 * len(ids)
