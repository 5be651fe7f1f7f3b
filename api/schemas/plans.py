"""Recurring meeting plan bodies ("支委会, monthly, first Tuesday 15:00")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from api.schemas.common import Id, In, Out, TimeZone
from api.schemas.meetings import Seconds, Title, Topic
from geo.meetings.recurrence import Frequency
from geo.model import MeetingKind

LocalTime = Annotated[
    str,
    Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["15:00"], description="HH:MM"),
]
Minutes = Annotated[int, Field(ge=1, le=1440, description="How long each meeting lasts.")]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 Monday … 6 Sunday.")]
Nth = Annotated[int, Field(ge=-1, le=4, description="1–4, or -1 for the last of the month.")]
DayOfMonth = Annotated[
    int, Field(ge=1, le=31, description="Clipped to the month's last day (31: month end).")
]
MonthOfQuarter = Annotated[int, Field(ge=1, le=3, description="Quarterly plans: 1–3.")]
PlanDate = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]


class PlanIn(In):
    org_id: Id
    site_id: Id | None = None
    kind: MeetingKind = Field(examples=[MeetingKind.BRANCH_COMMITTEE_MEETING])
    title: Title = ""
    topic: Topic = ""
    tz: TimeZone | None = Field(default=None, description="Only for a plan without a site.")
    frequency: Frequency = Field(examples=[Frequency.MONTHLY])
    weekday: Weekday | None = Field(default=None, examples=[1])
    nth: Nth | None = Field(default=None, examples=[1])
    day_of_month: DayOfMonth | None = None
    month_of_quarter: MonthOfQuarter | None = None
    time: LocalTime
    duration_min: Minutes = 90
    starts_on: PlanDate | None = Field(default=None, description="Default: today (local).")
    until: PlanDate | None = None
    host_member_id: Id | None = None
    recorder_member_id: Id | None = None
    early_s: Seconds = 1800.0
    late_grace_s: Seconds = 300.0
    left_early_margin_s: Seconds = 600.0


class PlanPatch(In):
    """Fields to change (null empties ``site_id``, ``until``, ``host_member_id`` or
    ``recorder_member_id``). A new rule is given whole: frequency with its weekday, nth,
    day_of_month and month_of_quarter."""

    site_id: Id | None = None
    kind: MeetingKind | None = None
    title: Title | None = None
    topic: Topic | None = None
    tz: TimeZone | None = None
    frequency: Frequency | None = None
    weekday: Weekday | None = None
    nth: Nth | None = None
    day_of_month: DayOfMonth | None = None
    month_of_quarter: MonthOfQuarter | None = None
    time: LocalTime | None = None
    duration_min: Minutes | None = None
    starts_on: PlanDate | None = None
    until: PlanDate | None = None
    host_member_id: Id | None = None
    recorder_member_id: Id | None = None


class PlannedMeeting(Out):
    meeting_id: int
    start: datetime
    start_local: str


class PlanOut(Out):
    id: int
    org_id: int
    org_name: str
    site_id: int | None
    site_name: str | None
    kind: MeetingKind
    title: str
    topic: str
    tz: str
    frequency: Frequency
    weekday: int | None
    nth: int | None
    day_of_month: int | None
    month_of_quarter: int | None
    time: str
    duration_min: int
    starts_on: date
    until: date | None
    host_member_id: int | None
    recorder_member_id: int | None
    active: bool
    scheduled_through: date | None = Field(description="Meetings exist up to this local date.")
    next_meetings: list[PlannedMeeting] = Field(description="The next ones it scheduled.")
    created_at: datetime
    updated_at: datetime
