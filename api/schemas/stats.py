"""Statistics (考核) and alert bodies: held against required per kind, attendance in numbers,
the ranking of branches, trends for charts, members' figures and history, alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from api.schemas.common import Out
from api.schemas.meetings import SummaryOut
from geo.model import AttendanceOutcome, EvidenceKind, MeetingKind
from store.models import OrgKind


class KindOut(Out):
    kind: MeetingKind
    held: int
    required: int = Field(description="Meetings due: whole periods ended × count (0: none).")
    met: int = Field(description="Of those, how many were held (each period up to its count).")


class OrgStatsOut(Out):
    """An organisation's figures: its own meetings, or (``subtree``) with those below it."""

    org_id: int
    org_name: str
    org_kind: OrgKind
    parent_id: int | None
    held: int = Field(description="Meetings held (ended, not cancelled).")
    recorded: int
    required: int
    met: int
    compliance: float | None = Field(description="met / required (0–1).")
    attendance: SummaryOut
    by_kind: list[KindOut]


class RankedOut(OrgStatsOut):
    rank: int


class MonthOut(Out):
    month: str = Field(examples=["2026-07"])
    held: int
    attendance: SummaryOut


class StatsOverview(Out):
    """Everything a dashboard's charts need at once for a subtree and range."""

    org_id: int | None = Field(description="The subtree's root (None: the whole tree).")
    start: date
    end: date = Field(description="Exclusive.")
    tz: str = Field(description="The zone the dates and periods are in.")
    total: OrgStatsOut
    children: list[OrgStatsOut] = Field(
        description="Each organisation directly below the root, with its subtree (rate by "
        "organisation)."
    )
    months: list[MonthOut] = Field(description="Trend by month.")
    branches: int = Field(description="Branches in the subtree (see /stats/ranking).")


class MemberStatsOut(Out):
    member_id: int
    name: str
    org_id: int
    attendance: SummaryOut


class HistoryOut(Out):
    meeting_id: int
    org_id: int
    kind: MeetingKind
    title: str
    start: datetime
    start_local: str
    tz: str
    status: AttendanceOutcome
    outcome: AttendanceOutcome = Field(description="The automatic decision.")
    evidence: EvidenceKind | None
    corrected: bool


AlertKind = Literal["overdue", "absent_streak", "low_attendance"]


class AlertOut(Out):
    """``overdue``: an organisation held fewer meetings of ``meeting_kind`` than required in
    the last whole period; ``absent_streak``: a member missed their last ``absent_run``
    recorded meetings; ``low_attendance``: a recorded meeting below the threshold."""

    kind: AlertKind
    org_id: int
    org_name: str
    meeting_kind: MeetingKind | None = None
    period_start: date | None = None
    period_end: date | None = None
    held: int | None = None
    required: int | None = None
    member_id: int | None = None
    member_name: str | None = None
    absent_run: int | None = None
    meeting_id: int | None = None
    start: datetime | None = None
    rate: float | None = None


class AlertCounts(Out):
    overdue: int
    absent_streak: int
    low_attendance: int
    total: int
