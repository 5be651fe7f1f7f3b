"""Meeting attendance and its statistics: one implementation for the API and the command line.

Attendance is decided from the meeting's roll (its organisation's active members and their
visits to the site, :func:`store.meetings.meeting_roll`) by :func:`geo.meetings.attendance`,
live on every read; :func:`record_meeting_attendance` stores the outcome, and the per-
organisation statistics count stored outcomes. Times in tables are shown in the site's time
zone, the zone named in the header.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.meetings import attendance
from geo.model import AttendanceOutcome, Meeting, Site
from store.meetings import attendance_counts, meeting_roll, record_attendance
from store.models import Member, Organisation
from store.sites import get_site

OUTCOMES = tuple(AttendanceOutcome)


class AttendanceLine(NamedTuple):
    member_id: int
    code: str | None
    name: str
    outcome: AttendanceOutcome
    first_checkin: datetime | None
    last_leave: datetime | None


@dataclass(frozen=True, slots=True)
class AttendanceReport:
    meeting: Meeting
    site: Site
    lines: tuple[AttendanceLine, ...]

    def counts(self) -> dict[str, int]:
        found = {o.value: 0 for o in OUTCOMES}
        for line in self.lines:
            found[line.outcome.value] += 1
        return found

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """Header and rows for CSV/XLSX, times in the site's time zone."""
        zone = ZoneInfo(self.site.tz)
        header = [
            "member_id",
            "code",
            "name",
            "outcome",
            f"first_checkin ({self.site.tz})",
            f"last_leave ({self.site.tz})",
        ]
        rows = [
            [
                line.member_id,
                line.code or "",
                line.name,
                line.outcome.value,
                _local(line.first_checkin, zone),
                _local(line.last_leave, zone),
            ]
            for line in self.lines
        ]
        return header, rows


def meeting_attendance(session: Session, *, meeting_id: int) -> AttendanceReport:
    """Who attended, as the visits stored now say (nothing is written)."""
    roll = meeting_roll(session, meeting_id=meeting_id)
    decided = attendance(roll.meeting, roll.member_ids, roll.visits)
    people = _members(session, roll.member_ids)
    lines = tuple(
        AttendanceLine(
            member_id=a.member_id,
            code=people[a.member_id][0],
            name=people[a.member_id][1],
            outcome=a.outcome,
            first_checkin=a.first_checkin,
            last_leave=a.last_leave,
        )
        for a in decided
    )
    return AttendanceReport(roll.meeting, get_site(session, site_id=roll.meeting.site_id), lines)


def record_meeting_attendance(session: Session, *, meeting_id: int) -> AttendanceReport:
    """Decide attendance and store it (replacing what was stored); the caller commits."""
    roll = meeting_roll(session, meeting_id=meeting_id)
    record_attendance(session, attendance=attendance(roll.meeting, roll.member_ids, roll.visits))
    return meeting_attendance(session, meeting_id=meeting_id)


class OrgAttendance(NamedTuple):
    org_id: int
    org_name: str
    present: int
    late: int
    left_early: int
    absent: int

    @property
    def total(self) -> int:
        return self.present + self.late + self.left_early + self.absent

    @property
    def attendance_rate(self) -> float | None:
        """Share of the roll that came at all (late and left early included)."""
        return round((self.total - self.absent) / self.total, 4) if self.total else None


STATS_HEADER = ["org_id", "org_name", "present", "late", "left_early", "absent", "total", "rate"]


def attendance_stats(
    session: Session,
    *,
    within_org_id: int | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[OrgAttendance]:
    """Stored outcomes of meetings starting in [start, end), per organisation, by org id."""
    counts: defaultdict[int, dict[str, int]] = defaultdict(lambda: {o.value: 0 for o in OUTCOMES})
    for row in attendance_counts(session, within_org_id=within_org_id, start=start, end=end):
        counts[row.org_id][row.outcome.value] += row.total
    rows = session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(list(counts)))
    )
    names = {org_id: name for org_id, name in rows}
    return [
        OrgAttendance(org_id, names.get(org_id, ""), **values)
        for org_id, values in sorted(counts.items())
    ]


def stats_rows(stats: Sequence[OrgAttendance]) -> list[list[Any]]:
    return [
        [
            s.org_id,
            s.org_name,
            s.present,
            s.late,
            s.left_early,
            s.absent,
            s.total,
            s.attendance_rate,
        ]
        for s in stats
    ]


def _members(session: Session, member_ids: Sequence[int]) -> dict[int, tuple[str | None, str]]:
    if not member_ids:
        return {}
    rows = session.execute(
        select(Member.id, Member.code, Member.name).where(Member.id.in_(list(member_ids)))
    )
    return {member_id: (code, name) for member_id, code, name in rows}


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""
