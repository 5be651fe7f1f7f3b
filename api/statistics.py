"""Statistics and alerts as the API, the big screen and the period workbook give them: the
configured requirements, the range asked for, and store figures turned into bodies.

Ranges are local dates in the reporting zone (``PARTYMAP_MEETINGS_TZ``), the end exclusive;
by default the year so far (to tomorrow, so today counts).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from api.reports import names
from api.schemas.meetings import SummaryOut
from api.schemas.stats import (
    AlertCounts,
    AlertOut,
    KindOut,
    MonthOut,
    OrgStatsOut,
    StatsOverview,
)
from geo.meetings.recurrence import zone
from geo.model import MeetingKind
from partymap.settings import Settings
from store.errors import InvalidValueError
from store.models import Organisation, OrgKind
from store.stats import OrgFigures, Requirement, StatsReport, local_midnight, statistics
from store.watch import absent_streaks, low_attendance, overdue

MAX_RANGE = timedelta(days=366 * 5)
LOW_ATTENDANCE_DAYS = 90  # how far back meetings below the threshold are listed by default


def requirements(settings: Settings) -> list[Requirement]:
    return [
        Requirement(
            kind=MeetingKind(kind),
            period=req.period,
            count=req.count,
            org_kinds=frozenset(OrgKind(k) for k in req.org_kinds),
        )
        for kind, req in settings.meetings_required.items()
    ]


def date_range(
    settings: Settings, start: date | None, end: date | None, now: datetime
) -> tuple[date, date]:
    """[start, end) as asked, by default this year so far; at most five years."""
    today = now.astimezone(zone(settings.meetings_tz)).date()
    first = start or date(today.year, 1, 1)
    last = end or today + timedelta(days=1)
    if last <= first:
        raise InvalidValueError(f"the range ends ({last}) before it starts ({first})")
    if last - first > MAX_RANGE:
        raise InvalidValueError("a range spans at most five years")
    return first, last


def report(
    session: Session,
    settings: Settings,
    *,
    root_id: int | None,
    start: date | None,
    end: date | None,
    now: datetime,
) -> StatsReport:
    first, last = date_range(settings, start, end, now)
    return statistics(
        session,
        root_id=root_id,
        start=first,
        end=last,
        tz=settings.meetings_tz,
        now=now,
        requirements=requirements(settings),
    )


def org_out(f: OrgFigures) -> OrgStatsOut:
    return OrgStatsOut(
        org_id=f.org_id,
        org_name=f.name,
        org_kind=f.kind,
        parent_id=f.parent_id,
        held=f.held,
        recorded=f.recorded,
        required=f.required,
        met=f.met,
        compliance=f.compliance,
        attendance=SummaryOut.of(f.attendance),
        by_kind=[
            KindOut(kind=kind, held=k.held, required=k.required, met=k.met)
            for kind, k in sorted(
                f.by_kind.items(), key=lambda item: list(MeetingKind).index(item[0])
            )
        ],
    )


def overview(found: StatsReport, root_id: int | None) -> StatsOverview:
    """Totals, each child of the root with its subtree, and the monthly trend."""
    return StatsOverview(
        org_id=root_id,
        start=found.start,
        end=found.end,
        tz=found.tz,
        total=org_out(found.total),
        children=[org_out(f) for f in found.children(root_id)],
        months=[
            MonthOut(month=m.month, held=m.held, attendance=SummaryOut.of(m.attendance))
            for m in found.months
        ],
        branches=len(found.branch_rows),
    )


def alerts(
    session: Session,
    settings: Settings,
    *,
    root_id: int | None,
    kinds: set[str],
    start: date | None,
    end: date | None,
    now: datetime,
) -> list[AlertOut]:
    """Every current alert of the subtree: overdue organisations (last whole period),
    absence streaks, and meetings below the threshold in [start, end) (default: the last
    90 days)."""
    tz = settings.meetings_tz
    out: list[AlertOut] = []
    if "overdue" in kinds:
        grace = timedelta(seconds=settings.meetings_record_grace_seconds)
        for o in overdue(
            session,
            root_id=root_id,
            requirements=requirements(settings),
            tz=tz,
            now=now,
            grace=grace,
        ):
            out.append(
                AlertOut(
                    kind="overdue",
                    org_id=o.org_id,
                    org_name=o.org_name,
                    meeting_kind=o.kind,
                    period_start=o.period_start,
                    period_end=o.period_end,
                    held=o.held,
                    required=o.required,
                )
            )
    if "absent_streak" in kinds:
        for s in absent_streaks(
            session, root_id=root_id, at_least=settings.meetings_alert_absent_streak
        ):
            out.append(
                AlertOut(
                    kind="absent_streak",
                    org_id=s.org_id,
                    org_name="",
                    member_id=s.member_id,
                    member_name=s.name,
                    absent_run=s.absent_run,
                    meeting_id=s.last_meeting_id,
                )
            )
    if "low_attendance" in kinds:
        today = now.astimezone(zone(tz)).date()
        first = start or today - timedelta(days=LOW_ATTENDANCE_DAYS)
        last = end or today + timedelta(days=1)
        for m in low_attendance(
            session,
            root_id=root_id,
            below=settings.meetings_alert_min_rate,
            start=local_midnight(first, tz),
            end=local_midnight(last, tz),
        ):
            out.append(
                AlertOut(
                    kind="low_attendance",
                    org_id=m.org_id,
                    org_name="",
                    meeting_kind=m.kind,
                    meeting_id=m.meeting_id,
                    start=m.start,
                    rate=m.attendance.rate,
                    held=m.attendance.attended,
                    required=m.attendance.expected,
                )
            )
    found = names(session, Organisation, {a.org_id for a in out if not a.org_name})
    return [
        a if a.org_name else a.model_copy(update={"org_name": found.get(a.org_id, "")}) for a in out
    ]


def counts(found: list[AlertOut]) -> AlertCounts:
    n = {"overdue": 0, "absent_streak": 0, "low_attendance": 0}
    for a in found:
        n[a.kind] += 1
    return AlertCounts(**n, total=len(found))
