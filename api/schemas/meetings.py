"""Meeting, attendance and statistics bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field

from api.schemas.common import Id, In, Name, Number, Out
from geo.model import AttendanceOutcome, Meeting, MeetingKind

Seconds = Annotated[Number, Field(ge=0, le=86_400, allow_inf_nan=False)]


class MeetingOut(Out):
    id: int
    org_id: int
    site_id: int
    kind: MeetingKind
    title: str
    start: datetime
    end: datetime
    early_s: float = Field(description="Visits from this long before the start count.")
    late_grace_s: float = Field(description="A check-in this long after the start is on time.")
    left_early_margin_s: float = Field(description="Leaving this long before the end is early.")

    @classmethod
    def of(cls, meeting: Meeting) -> MeetingOut:
        return cls(
            id=meeting.id,
            org_id=meeting.org_id,
            site_id=meeting.site_id,
            kind=meeting.kind,
            title=meeting.title,
            start=meeting.start,
            end=meeting.end,
            early_s=meeting.early.total_seconds(),
            late_grace_s=meeting.late_grace.total_seconds(),
            left_early_margin_s=meeting.left_early_margin.total_seconds(),
        )


class MeetingIn(In):
    org_id: Id
    site_id: Id
    kind: MeetingKind = Field(examples=[MeetingKind.BRANCH_GENERAL_MEETING])
    title: Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""
    start: AwareDatetime = Field(examples=["2026-07-01T09:00:00+08:00"])
    end: AwareDatetime = Field(examples=["2026-07-01T10:30:00+08:00"])
    early_s: Seconds = 1800.0
    late_grace_s: Seconds = 300.0
    left_early_margin_s: Seconds = 600.0


class MeetingPatch(In):
    site_id: Id | None = None
    kind: MeetingKind | None = None
    title: Name | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None


class AttendanceOut(Out):
    member_id: int
    code: str | None
    name: str
    outcome: AttendanceOutcome
    first_checkin: datetime | None
    last_leave: datetime | None


class AttendanceSummary(Out):
    meeting_id: int
    counts: dict[str, int] = Field(
        examples=[{"present": 12, "late": 1, "left_early": 0, "absent": 2}]
    )


class OrgAttendanceOut(Out):
    org_id: int
    org_name: str
    present: int
    late: int
    left_early: int
    absent: int
    total: int
    attendance_rate: float | None = Field(description="(total − absent) / total.")
