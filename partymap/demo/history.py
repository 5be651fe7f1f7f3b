"""The demo's past year of 三会一课: recurring plans for every branch and party group, and the
meetings those plans held over the twelve months before today, with their attendance recorded
— so that the statistics, the charts and the alerts have something to show from the start.

The attendance is drawn from a fixed seed (mostly 按时出席, some 迟到, 早退, 请假 with a leave
reason, 缺席), and three things are arranged for the alerts: 玉磨铁路项目部党支部 cancelled
last month's 支委会 (逾期未开展), 萧然 missed the last three meetings of the 北京 branch (连续缺席),
and the 肯尼亚 branch's latest 支委会 was half empty (出席率低). Everything is written in a few
bulk statements: the demo starts about as fast as without it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from geo.meetings.recurrence import Frequency, Rule, occurrences, to_utc, zone
from geo.model import AttendanceOutcome, EvidenceKind, MeetingKind
from partymap.seed import MEMBERS, ORGS, SH, SITES, SeededDemo
from store import plans
from store.attendance import refresh_absence_runs
from store.meetings import EARLY, LATE_GRACE, LEFT_EARLY_MARGIN
from store.models import (
    AttendanceRow,
    LeaveRow,
    LeaveStatus,
    MeetingRow,
    MeetingStatus,
    Member,
    Organisation,
    OrgKind,
)

P, L, E, A, X = (
    AttendanceOutcome.PRESENT,
    AttendanceOutcome.LATE,
    AttendanceOutcome.LEFT_EARLY,
    AttendanceOutcome.ABSENT,
    AttendanceOutcome.EXCUSED,
)
OUTCOMES, WEIGHTS = (P, L, E, A, X), (0.84, 0.06, 0.03, 0.04, 0.03)
REASONS = ("出差", "病假", "施工现场值班", "探亲")
SECRETARY = "demo"
MIN_RATE = 0.8  # the default alert threshold (PARTYMAP_MEETINGS_ALERT_MIN_RATE)


@dataclass(frozen=True, slots=True)
class DemoPlan:
    kind: MeetingKind
    rule: Rule
    at: time
    duration: timedelta
    title: str


BRANCH_PLANS = (
    DemoPlan(MeetingKind.BRANCH_COMMITTEE_MEETING, Rule(Frequency.MONTHLY, weekday=1, nth=1),
             time(15, 0), timedelta(hours=1), "支委会"),
    DemoPlan(MeetingKind.BRANCH_GENERAL_MEETING,
             Rule(Frequency.QUARTERLY, weekday=3, nth=2, month_of_quarter=1),
             time(14, 30), timedelta(hours=2), "支部党员大会"),
    DemoPlan(MeetingKind.PARTY_LECTURE,
             Rule(Frequency.QUARTERLY, weekday=4, nth=3, month_of_quarter=2),
             time(15, 0), timedelta(hours=1, minutes=30), "党课"),
)  # fmt: skip
GROUP_PLANS = (
    DemoPlan(MeetingKind.GROUP_MEETING, Rule(Frequency.MONTHLY, weekday=2, nth=2), time(18, 0),
             timedelta(hours=1), "党小组会"),
)  # fmt: skip
OVERDUE_BRANCH, STREAK_MEMBER, LOW_BRANCH = "yunnan", "萧然", "kenya"


def seed_history(session: Session, seeded: SeededDemo, *, now: datetime) -> int:
    """Plans for every branch and party group, and the meetings they held in the year before
    ``now``'s day (reporting zone), recorded; the number of meetings made."""
    rng = random.Random(15)
    today = now.astimezone(zone(SH)).date()
    first = date(today.year - 1, today.month, 1)
    site_of = {s.org: s for s in SITES}
    roll: dict[str, list[int]] = {}
    for person in MEMBERS:
        roll.setdefault(person.org, []).append(seeded.members[person.name])
    rows: list[dict[str, object]] = []
    for org in ORGS:
        if org.kind not in (OrgKind.BRANCH, OrgKind.PARTY_GROUP) or not roll.get(org.key):
            continue
        site = site_of.get(org.key)
        tz = site.tz if site else SH
        for spec in BRANCH_PLANS if org.kind is OrgKind.BRANCH else GROUP_PLANS:
            plan = plans.create_plan(
                session,
                org_id=seeded.orgs[org.key],
                site_id=seeded.sites[site.key] if site else None,
                kind=spec.kind,
                rule=spec.rule,
                start_time=spec.at,
                duration=spec.duration,
                starts_on=first,
                tz=tz,
                title=spec.title,
                now=now,
            )
            for day in occurrences(spec.rule, first, today):
                start = to_utc(datetime.combine(day, spec.at), tz, strict=False)
                if start + spec.duration > now:
                    continue  # today's and later: the meeting task schedules them
                rows.append(
                    {
                        "org_id": seeded.orgs[org.key],
                        "site_id": seeded.sites[site.key] if site else None,
                        "kind": spec.kind,
                        "title": spec.title,
                        "topic": "",
                        "tz": tz,
                        "start_at": start,
                        "end_at": start + spec.duration,
                        "early_s": EARLY.total_seconds(),
                        "late_grace_s": LATE_GRACE.total_seconds(),
                        "left_early_margin_s": LEFT_EARLY_MARGIN.total_seconds(),
                        "status": MeetingStatus.SCHEDULED,
                        "plan_id": plan.id,
                        "occurrence": day,
                        "plan_detached": False,
                        "created_at": start - timedelta(days=30),
                        "updated_at": start,
                    }
                )
    _arrange_overdue(rows, seeded, today)
    # The organisations and members were there all year: the periods before "now" count.
    since = to_utc(datetime.combine(first - timedelta(days=1), time(9, 0)), SH)
    session.execute(update(Organisation).values(created_at=since))
    session.execute(update(Member).values(created_at=since))
    rows.sort(key=lambda r: r["start_at"])  # type: ignore[arg-type,return-value]
    key_of = {v: k for k, v in seeded.orgs.items()}
    low = max(
        (n for n, r in enumerate(rows) if r["org_id"] == seeded.orgs[LOW_BRANCH]
         and r["kind"] is MeetingKind.BRANCH_COMMITTEE_MEETING),
        default=None,
    )  # fmt: skip
    streak = _last_meetings(rows, seeded.orgs[_org_of(STREAK_MEMBER)], 3)
    decided: list[list[tuple[int, AttendanceOutcome]]] = []
    statuses: list[AttendanceOutcome] = []
    for n, r in enumerate(rows):
        if r["status"] is MeetingStatus.CANCELLED:
            decided.append([])
            continue
        people = roll[key_of[r["org_id"]]]  # type: ignore[index]
        if n == low:
            statuses = [A if i % 2 else P for i in range(len(people))]
        else:
            for _ in range(20):  # the others stay above the alert threshold
                statuses = rng.choices(OUTCOMES, WEIGHTS, k=len(people))
                if _rate(statuses) >= MIN_RATE:
                    break
        if n in streak:
            statuses[people.index(seeded.members[STREAK_MEMBER])] = A
        decided.append(list(zip(people, statuses, strict=True)))
        r.update(_summary(r["end_at"], statuses))  # type: ignore[arg-type]
    session.execute(insert(MeetingRow), rows)
    ids = session.scalars(
        select(MeetingRow.id).where(MeetingRow.plan_id.is_not(None)).order_by(MeetingRow.id)
    ).all()
    attendance: list[dict[str, object]] = []
    leave: list[dict[str, object]] = []
    for meeting_id, r, taken in zip(ids, rows, decided, strict=True):
        began, ended = r["start_at"], r["end_at"]
        assert isinstance(began, datetime) and isinstance(ended, datetime)
        for member, status in taken:
            came = status in (P, L, E)
            attendance.append(
                {
                    "meeting_id": meeting_id,
                    "member_id": member,
                    "outcome": status,
                    "status": status,
                    "evidence": EvidenceKind.BEIDOU if came else None,
                    "first_checkin_at": began
                    + (timedelta(minutes=9) if status is L else timedelta(minutes=-6))
                    if came
                    else None,
                    "last_leave_at": ended - timedelta(minutes=20) if status is E else None,
                    "computed_at": ended + timedelta(minutes=15),
                }
            )
            if status is X:
                leave.append(
                    {
                        "meeting_id": meeting_id,
                        "member_id": member,
                        "status": LeaveStatus.APPROVED,
                        "reason": rng.choice(REASONS),
                        "requested_at": began - timedelta(days=1),
                        "requested_by": SECRETARY,
                        "decided_at": began - timedelta(days=1),
                        "decided_by": SECRETARY,
                    }
                )
    if attendance:
        session.execute(insert(AttendanceRow), attendance)
    if leave:
        session.execute(insert(LeaveRow), leave)
    refresh_absence_runs(session, member_ids=sorted(seeded.members.values()), now=now)
    return len(rows)


def _arrange_overdue(rows: list[dict[str, object]], seeded: SeededDemo, today: date) -> None:
    """The overdue branch cancelled last month's 支委会."""
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    for r in rows:
        occurrence = r["occurrence"]
        if (
            r["org_id"] == seeded.orgs[OVERDUE_BRANCH]
            and r["kind"] is MeetingKind.BRANCH_COMMITTEE_MEETING
            and isinstance(occurrence, date)
            and occurrence >= last_month
            and occurrence < today.replace(day=1)
        ):
            r["status"] = MeetingStatus.CANCELLED
            r["cancelled_at"] = r["start_at"]
            r["cancelled_by"] = SECRETARY
            r["cancel_reason"] = "项目停工检修，改期"
            r["plan_detached"] = True


def _org_of(member: str) -> str:
    return next(m.org for m in MEMBERS if m.name == member)


def _last_meetings(rows: Sequence[Mapping[str, object]], org_id: int, n: int) -> set[int]:
    """The places in ``rows`` (by start) of the organisation's last ``n`` meetings held."""
    mine = [
        i
        for i, r in enumerate(rows)
        if r["org_id"] == org_id and r["status"] is MeetingStatus.SCHEDULED
    ]
    return set(mine[-n:])


def _rate(statuses: Sequence[AttendanceOutcome]) -> float:
    return sum(s in (P, L, E) for s in statuses) / len(statuses) if statuses else 1.0


def _summary(end: datetime, statuses: Sequence[AttendanceOutcome]) -> dict[str, object]:
    return {
        "recorded_at": end + timedelta(minutes=15),
        "expected_n": len(statuses),
        "present_n": statuses.count(P),
        "late_n": statuses.count(L),
        "left_early_n": statuses.count(E),
        "absent_n": statuses.count(A),
        "excused_n": statuses.count(X),
    }
