"""Meetings as their readers see them, their attendance sheets and per-organisation counts:
one implementation for the API and the command line.

A meeting is described with the names of its organisation, site, host and recorder and its
times in its own zone (:func:`describe_meetings`). Attendance comes from
:func:`store.attendance.attendance_sheet` (live before the meeting is recorded, stored after),
with each member's code and name (:func:`meeting_sheet`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.schemas.meetings import (
    AttendanceOut,
    CorrectionOut,
    LeaveBrief,
    MeetingOut,
    SummaryOut,
)
from geo.meetings.recurrence import local_iso
from geo.model import AttendanceOutcome
from store.attendance import Correction, Entry, Sheet, attendance_sheet
from store.meetings import MeetingInfo, attendance_counts
from store.models import Member, Organisation, SiteRow

STATUSES = tuple(s for s in AttendanceOutcome if s is not AttendanceOutcome.PENDING)


def describe_meetings(
    session: Session, infos: Sequence[MeetingInfo], *, now: datetime
) -> list[MeetingOut]:
    """The API's view of meetings, with names looked up once for the whole list."""
    orgs = names(session, Organisation, {i.meeting.org_id for i in infos})
    sites = names(session, SiteRow, {i.meeting.site_id for i in infos})
    people = member_names(
        session, {m for i in infos for m in (i.host_member_id, i.recorder_member_id)}
    )
    return [
        MeetingOut(
            id=i.meeting.id,
            org_id=i.meeting.org_id,
            org_name=orgs.get(i.meeting.org_id, ""),
            site_id=i.meeting.site_id,
            site_name=sites.get(i.meeting.site_id) if i.meeting.site_id else None,
            kind=i.meeting.kind,
            title=i.meeting.title,
            topic=i.topic,
            tz=i.tz,
            start=i.meeting.start,
            end=i.meeting.end,
            start_local=local_iso(i.meeting.start, i.tz),
            end_local=local_iso(i.meeting.end, i.tz),
            status=i.state(now),
            host_member_id=i.host_member_id,
            host_name=people.get(i.host_member_id, (None, None))[1],
            recorder_member_id=i.recorder_member_id,
            recorder_name=people.get(i.recorder_member_id, (None, None))[1],
            plan_id=i.plan_id,
            recorded_at=i.recorded_at,
            summary=SummaryOut.of(i.summary) if i.summary else None,
            cancelled_at=i.cancelled_at,
            cancelled_by=i.cancelled_by,
            cancel_reason=i.cancel_reason,
            early_s=i.meeting.early.total_seconds(),
            late_grace_s=i.meeting.late_grace.total_seconds(),
            left_early_margin_s=i.meeting.left_early_margin.total_seconds(),
            created_at=i.created_at,
            updated_at=i.updated_at,
        )
        for i in infos
    ]


class AttendanceLine(NamedTuple):
    member_id: int
    code: str | None
    name: str
    entry: Entry


@dataclass(frozen=True, slots=True)
class MeetingSheet:
    """A meeting's attendance with each member's code and name, and the meeting described."""

    sheet: Sheet
    meeting: MeetingOut
    lines: tuple[AttendanceLine, ...]

    def only(self, member_id: int | None) -> MeetingSheet:
        """The sheet cut to one member's line (a member reading their own)."""
        lines = tuple(line for line in self.lines if line.member_id == member_id)
        return MeetingSheet(self.sheet, self.meeting, lines)

    def member_ids(self) -> list[int]:
        return [line.member_id for line in self.lines]


def meeting_sheet(session: Session, *, meeting_id: int, now: datetime) -> MeetingSheet:
    """Who attended, as recorded or as it stands at ``now`` (nothing is written)."""
    sheet = attendance_sheet(session, meeting_id=meeting_id, now=now)
    people = member_names(session, [e.member_id for e in sheet.entries])
    lines = tuple(
        AttendanceLine(e.member_id, *people.get(e.member_id, (None, f"#{e.member_id}")), e)
        for e in sheet.entries
    )
    meeting = describe_meetings(session, [sheet.info], now=now)[0]
    return MeetingSheet(sheet, meeting, lines)


def attendance_out(line: AttendanceLine) -> AttendanceOut:
    e = line.entry
    return AttendanceOut(
        member_id=line.member_id,
        code=line.code,
        name=line.name,
        status=e.status,
        outcome=e.outcome,
        evidence=e.evidence,
        checkin_evidence=e.checkin_evidence,
        first_checkin=e.first_checkin,
        last_leave=e.last_leave,
        leave=LeaveBrief(status=e.leave.status, reason=e.leave.reason) if e.leave else None,
        correction=correction_out(e.correction) if e.correction else None,
    )


def correction_out(c: Correction) -> CorrectionOut:
    return CorrectionOut(
        id=c.id,
        meeting_id=c.meeting_id,
        member_id=c.member_id,
        old_status=c.old_status,
        new_status=c.new_status,
        reason=c.reason,
        by=c.actor,
        at=c.at,
    )


class OrgAttendance(NamedTuple):
    org_id: int
    org_name: str
    present: int
    late: int
    left_early: int
    absent: int
    excused: int

    @property
    def total(self) -> int:
        """应到: every recorded line."""
        return self.present + self.late + self.left_early + self.absent + self.excused

    @property
    def attended(self) -> int:
        return self.present + self.late + self.left_early

    @property
    def attendance_rate(self) -> float | None:
        """出席率: the share of the roll that came (late and left early included)."""
        return round(self.attended / self.total, 4) if self.total else None


STATS_HEADER = [
    "org_id", "org_name", "present", "late", "left_early", "absent", "excused", "total",
    "attended", "rate",
]  # fmt: skip


def attendance_stats(
    session: Session,
    *,
    within_org_id: int | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[OrgAttendance]:
    """Recorded statuses of meetings starting in [start, end), per organisation, by org id."""
    counts: defaultdict[int, dict[str, int]] = defaultdict(lambda: {s.value: 0 for s in STATUSES})
    for row in attendance_counts(session, within_org_id=within_org_id, start=start, end=end):
        if row.outcome.value in counts[row.org_id]:
            counts[row.org_id][row.outcome.value] += row.total
    found = names(session, Organisation, set(counts))
    return [
        OrgAttendance(org_id, found.get(org_id, ""), **values)
        for org_id, values in sorted(counts.items())
    ]


def stats_rows(stats: Sequence[OrgAttendance]) -> list[list[Any]]:
    return [
        [
            s.org_id, s.org_name, s.present, s.late, s.left_early, s.absent, s.excused, s.total,
            s.attended, s.attendance_rate,
        ]
        for s in stats
    ]  # fmt: skip


def member_names(
    session: Session, member_ids: Collection[int | None]
) -> dict[int | None, tuple[str | None, str]]:
    """(code, name) of each member id given."""
    ids = sorted({m for m in member_ids if m is not None})
    if not ids:
        return {}
    rows = session.execute(select(Member.id, Member.code, Member.name).where(Member.id.in_(ids)))
    return {member_id: (code, name) for member_id, code, name in rows}


def names(
    session: Session, table: type[Organisation] | type[SiteRow], ids: Collection[int | None]
) -> dict[int | None, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.execute(select(table.id, table.name).where(table.id.in_(wanted)))
    return dict(rows.all())
