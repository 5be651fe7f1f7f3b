"""Meeting, attendance, leave and correction bodies.

Times going in may carry an offset (converted) or not (read as local time in the meeting's
zone: its site's, or ``tz`` for a meeting without a site). Times coming out are UTC, each
meeting naming its zone (``tz``) and giving its start and end in that zone too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from api.schemas.common import Id, In, Number, Out, TimeZone
from geo.model import AttendanceOutcome, EvidenceKind, MeetingKind
from store.meetings import MeetingState, Summary
from store.models import LeaveStatus

Seconds = Annotated[Number, Field(ge=0, le=86_400, allow_inf_nan=False)]
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # line breaks allowed, other controls not
Title = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Topic = Annotated[str, Field(max_length=2000, pattern=_TEXT)]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=_TEXT)]
Note = Annotated[str, Field(max_length=500, pattern=_TEXT)]


def _sane_year(value: datetime) -> datetime:
    if not 2000 <= value.year <= 2100:
        raise ValueError("a meeting time lies between the years 2000 and 2100")
    return value


MeetingTime = Annotated[
    datetime,
    AfterValidator(_sane_year),
    Field(
        description="ISO 8601; without an offset it is local time in the meeting's zone.",
        examples=["2026-07-07T15:00:00"],
    ),
]


class SummaryOut(Out):
    """A recorded meeting in numbers: 应到 (expected), 实到 (attended), 请假, 缺席, 迟到, 早退."""

    expected: int
    attended: int
    present: int
    late: int
    left_early: int
    absent: int
    excused: int
    rate: float | None = Field(description="出席率: attended / expected (0–1).")

    @classmethod
    def of(cls, summary: Summary) -> SummaryOut:
        return cls(
            expected=summary.expected,
            attended=summary.attended,
            present=summary.present,
            late=summary.late,
            left_early=summary.left_early,
            absent=summary.absent,
            excused=summary.excused,
            rate=summary.rate,
        )


class MeetingOut(Out):
    id: int
    org_id: int
    org_name: str
    site_id: int | None = Field(description="None: attendance is taken by hand.")
    site_name: str | None
    kind: MeetingKind
    title: str
    topic: str = Field(description="议题.")
    tz: str = Field(description="The zone the meeting is held in (its site's).")
    start: datetime = Field(description="UTC.")
    end: datetime = Field(description="UTC.")
    start_local: str = Field(examples=["2026-07-07T15:00:00+08:00"])
    end_local: str = Field(examples=["2026-07-07T16:30:00+08:00"])
    status: MeetingState
    host_member_id: int | None = Field(description="主持人.")
    host_name: str | None
    recorder_member_id: int | None = Field(description="记录人.")
    recorder_name: str | None
    plan_id: int | None = Field(description="The recurring plan that scheduled it.")
    recorded_at: datetime | None
    summary: SummaryOut | None = Field(description="The recorded attendance; None before.")
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None
    early_s: float = Field(description="Visits from this long before the start count.")
    late_grace_s: float = Field(description="A check-in this long after the start is on time.")
    left_early_margin_s: float = Field(description="Leaving this long before the end is early.")
    created_at: datetime
    updated_at: datetime


class MeetingIn(In):
    org_id: Id
    site_id: Id | None = Field(default=None, description="None: attendance taken by hand.")
    kind: MeetingKind = Field(examples=[MeetingKind.BRANCH_GENERAL_MEETING])
    title: Title = ""
    topic: Topic = ""
    tz: TimeZone | None = Field(
        default=None,
        description="Only for a meeting without a site (default: the reporting zone); a "
        "meeting at a site is held in the site's zone.",
    )
    start: MeetingTime
    end: MeetingTime = Field(examples=["2026-07-07T16:30:00"])
    host_member_id: Id | None = None
    recorder_member_id: Id | None = None
    early_s: Seconds = 1800.0
    late_grace_s: Seconds = 300.0
    left_early_margin_s: Seconds = 600.0


class MeetingPatch(In):
    """Fields to change; ``site_id``, ``host_member_id`` or ``recorder_member_id`` set to null
    empty them."""

    site_id: Id | None = None
    kind: MeetingKind | None = None
    title: Title | None = None
    topic: Topic | None = None
    tz: TimeZone | None = Field(default=None, description="Only for a meeting without a site.")
    start: MeetingTime | None = None
    end: MeetingTime | None = None
    host_member_id: Id | None = None
    recorder_member_id: Id | None = None


class CancelIn(In):
    reason: Reason = Field(examples=["书记外出学习，改期举行"])


class LeaveBrief(Out):
    status: LeaveStatus
    reason: str


class CorrectionOut(Out):
    id: int
    meeting_id: int
    member_id: int
    old_status: AttendanceOutcome
    new_status: AttendanceOutcome
    reason: str
    by: str = Field(description="Who corrected it.")
    at: datetime


class AttendanceOut(Out):
    """One member's line. ``status`` is what counts; ``outcome`` the automatic decision
    (visits, then approved leave) kept beside any correction."""

    member_id: int
    code: str | None
    name: str
    status: AttendanceOutcome
    outcome: AttendanceOutcome
    evidence: EvidenceKind | None = Field(
        description="What the status rests on: beidou, gnss, terminal, phone (手机定位), qr "
        "(扫码签到), or manual when corrected."
    )
    checkin_evidence: EvidenceKind | None = Field(description="The check-in's, if any.")
    first_checkin: datetime | None
    last_leave: datetime | None
    leave: LeaveBrief | None
    correction: CorrectionOut | None = Field(description="The latest correction (补签).")


class AttendanceCounts(Out):
    meeting_id: int
    status: MeetingState
    counts: dict[str, int] = Field(
        examples=[
            {"present": 12, "late": 1, "left_early": 0, "absent": 0, "excused": 1, "pending": 2}
        ]
    )
    summary: SummaryOut


class AttendanceSummary(Out):
    meeting_id: int
    counts: dict[str, int] = Field(
        examples=[
            {"present": 12, "late": 1, "left_early": 0, "absent": 2, "excused": 1, "pending": 0}
        ]
    )


class OrgAttendanceOut(Out):
    org_id: int
    org_name: str
    present: int
    late: int
    left_early: int
    absent: int
    excused: int
    total: int = Field(description="应到: every recorded line.")
    attended: int = Field(description="实到: present, late or left early.")
    attendance_rate: float | None = Field(description="出席率: attended / total.")


class LeaveIn(In):
    member_id: Id | None = Field(
        default=None, description="Whose leave (a member asking for themself may leave it out)."
    )
    reason: Reason = Field(examples=["赴项目部出差"])


class DecisionIn(In):
    approve: bool
    note: Note | None = None


class LeaveOut(Out):
    id: int
    meeting_id: int
    member_id: int
    member_name: str
    status: LeaveStatus = Field(description="requested, approved, refused or withdrawn.")
    reason: str
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None
    decided_by: str | None
    note: str | None
    meeting_kind: MeetingKind
    meeting_title: str
    meeting_start: datetime
    meeting_start_local: str
    meeting_tz: str


class CorrectionIn(In):
    member_id: Id
    status: AttendanceOutcome = Field(
        description="present, late, left_early, absent or excused.",
        examples=[AttendanceOutcome.PRESENT],
    )
    reason: Reason = Field(examples=["定位终端故障，现场签到表为证"])
