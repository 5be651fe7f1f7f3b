"""``/api/v1/stats/…`` and ``/api/v1/alerts``: the committee's view (考核) of a subtree.

Ranges are local dates in the reporting zone, ``start`` included and ``end`` excluded (default:
this year so far). Requirements (``PARTYMAP_MEETINGS_REQUIRED``) count whole calendar periods
inside the range that have ended. Organisation figures reveal no member; members' figures
and history are personal data, audited per member (``read_attendance``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import AdminUser, AppSettings, CurrentUser, DbSession, Pagination, audit_member_read
from api.period_report import period_workbook
from api.routes import API_PREFIX
from api.schemas.common import MemberId, OrgFilter, Page, paged
from api.schemas.meetings import SummaryOut
from api.schemas.stats import (
    AlertCounts,
    AlertKind,
    AlertOut,
    HistoryOut,
    MemberStatsOut,
    OrgStatsOut,
    RankedOut,
    StatsOverview,
)
from api.scope import member_in_scope, within
from api.statistics import alerts, counts, date_range, org_out, overview, report
from api.xlsx import MIME as XLSX_MIME
from geo.meetings.recurrence import local_iso
from store.member_stats import member_figures, member_history
from store.models import OrgKind
from store.stats import local_midnight

router = APIRouter(prefix=API_PREFIX, tags=["statistics"])

StartDate = Annotated[
    date | None,
    Query(
        ge=date(2000, 1, 1),
        le=date(2100, 12, 31),
        description="First local date (reporting zone); default 1 January this year.",
    ),
]
EndDate = Annotated[
    date | None,
    Query(
        ge=date(2000, 1, 1),
        le=date(2100, 12, 31),
        description="Local date after the last (exclusive); default tomorrow.",
    ),
]


@router.get("/stats/overview", summary="Statistics of a subtree, for charts")
def read_overview(
    *,
    session: DbSession,
    user: AdminUser,
    settings: AppSettings,
    org_id: OrgFilter = None,
    start: StartDate = None,
    end: EndDate = None,
) -> StatsOverview:
    """Totals (held against required, 应到 / 实到 / 请假 / 缺席 / 迟到 / 早退, 出席率), each
    organisation directly below with its subtree (rate by organisation), and the trend by
    month."""
    root = within(session, user, org_id)
    now = datetime.now(UTC)
    return overview(report(session, settings, root_id=root, start=start, end=end, now=now), root)


@router.get("/stats/organisations", summary="Per organisation: held, required, attendance")
def read_organisations(
    *,
    session: DbSession,
    user: AdminUser,
    settings: AppSettings,
    params: Pagination,
    org_id: OrgFilter = None,
    org_kind: Annotated[
        OrgKind | None, Query(description="Only organisations of this kind.")
    ] = None,
    start: StartDate = None,
    end: EndDate = None,
) -> Page[OrgStatsOut]:
    """Each organisation of the subtree with its own meetings, in tree order."""
    root = within(session, user, org_id)
    found = report(session, settings, root_id=root, start=start, end=end, now=datetime.now(UTC))
    rows = [f for f in found.orgs if org_kind in (None, f.kind)]
    window = params.window(rows)
    return paged(OrgStatsOut, [org_out(f) for f in window], params, _same)


@router.get("/stats/ranking", summary="Branches ranked")
def read_ranking(
    *,
    session: DbSession,
    user: AdminUser,
    settings: AppSettings,
    params: Pagination,
    org_id: OrgFilter = None,
    start: StartDate = None,
    end: EndDate = None,
) -> Page[RankedOut]:
    """Every branch of the subtree with its party groups, best attendance rate first (then
    compliance with the required meetings)."""
    root = within(session, user, org_id)
    found = report(session, settings, root_id=root, start=start, end=end, now=datetime.now(UTC))
    window = params.window(found.branches)
    ranked = [
        RankedOut(**org_out(f).model_dump(), rank=params.offset + n + 1)
        for n, f in enumerate(window)
    ]
    return paged(RankedOut, ranked, params, _same)


@router.get("/stats/members", summary="Each member's attendance figures")
def read_members(
    *,
    session: DbSession,
    user: AdminUser,
    settings: AppSettings,
    params: Pagination,
    org_id: OrgFilter = None,
    start: StartDate = None,
    end: EndDate = None,
) -> Page[MemberStatsOut]:
    """Members of the subtree (as placed now) with their recorded statuses over the range,
    by member id (audited per member)."""
    root = within(session, user, org_id)
    first, last = date_range(settings, start, end, datetime.now(UTC))
    tz = settings.meetings_tz
    found = member_figures(
        session,
        root_id=root,
        start=local_midnight(first, tz),
        end=local_midnight(last, tz),
        limit=params.limit + 1,
        offset=params.offset,
    )
    page = found[: params.limit]
    audit_member_read(
        session, user, [m.member_id for m in page], "read_attendance", {"what": "figures"}
    )
    session.commit()
    return paged(
        MemberStatsOut,
        [
            MemberStatsOut(
                member_id=m.member_id,
                name=m.name,
                org_id=m.org_id,
                attendance=SummaryOut.of(m.attendance),
            )
            for m in found
        ],
        params,
        _same,
    )


@router.get("/members/{member_id}/attendance", summary="A member's attendance history")
def read_history(
    *,
    member_id: MemberId,
    session: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    params: Pagination,
    start: StartDate = None,
    end: EndDate = None,
) -> Page[HistoryOut]:
    """The member's recorded meetings, newest first (a member: their own; audited)."""
    member_in_scope(session, user, member_id)
    tz = settings.meetings_tz
    found = member_history(
        session,
        member_id=member_id,
        start=local_midnight(start, tz) if start else None,
        end=local_midnight(end, tz) if end else None,
        limit=params.limit + 1,
        offset=params.offset,
    )
    audit_member_read(session, user, [member_id], "read_attendance", {"what": "history"})
    session.commit()
    return paged(
        HistoryOut,
        [
            HistoryOut(
                meeting_id=h.meeting_id,
                org_id=h.org_id,
                kind=h.kind,
                title=h.title,
                start=h.start,
                start_local=local_iso(h.start, h.tz),
                tz=h.tz,
                status=h.status,
                outcome=h.outcome,
                evidence=h.evidence,
                corrected=h.corrected,
            )
            for h in found
        ],
        params,
        _same,
    )


@router.get("/alerts", summary="Alerts: overdue meetings, absence streaks, low attendance")
def read_alerts(
    *,
    session: DbSession,
    user: AdminUser,
    settings: AppSettings,
    params: Pagination,
    org_id: OrgFilter = None,
    kind: Annotated[
        list[AlertKind] | None, Query(description="Only these kinds (repeat the parameter).")
    ] = None,
    start: StartDate = None,
    end: EndDate = None,
) -> Page[AlertOut]:
    """Organisations overdue on a required meeting in their last whole period (逾期未开展),
    members absent from ``PARTYMAP_MEETINGS_ALERT_ABSENT_STREAK`` recorded meetings in a row
    (audited per member), meetings below ``PARTYMAP_MEETINGS_ALERT_MIN_RATE`` in the range
    (default: the last 90 days). New ones also arrive on the live stream (``alert``)."""
    found = alerts(
        session,
        settings,
        root_id=within(session, user, org_id),
        kinds=set(kind or ("overdue", "absent_streak", "low_attendance")),
        start=start,
        end=end,
        now=datetime.now(UTC),
    )
    window = params.window(found)
    shown = [a.member_id for a in window[: params.limit] if a.member_id is not None]
    audit_member_read(session, user, shown, "read_attendance", {"what": "alerts"})
    session.commit()
    return paged(AlertOut, window, params, _same)


@router.get("/alerts/counts", summary="How many alerts of each kind (the badge)")
def read_alert_counts(
    *,
    session: DbSession,
    user: AdminUser,
    settings: AppSettings,
    org_id: OrgFilter = None,
) -> AlertCounts:
    found = alerts(
        session,
        settings,
        root_id=within(session, user, org_id),
        kinds={"overdue", "absent_streak", "low_attendance"},
        start=None,
        end=None,
        now=datetime.now(UTC),
    )
    return counts(found)


def _same(value: Any) -> Any:
    return value


@router.get(
    "/reports/period",
    summary="The period report workbook of a subtree (XLSX)",
    response_class=Response,
    responses={200: {"content": {XLSX_MIME: {}}, "description": "The workbook."}},
)
def read_period_report(
    *,
    session: DbSession,
    user: AdminUser,
    settings: AppSettings,
    org_id: OrgFilter = None,
    start: StartDate = None,
    end: EndDate = None,
    lang: Annotated[str, Query(pattern="^(zh-CN|en)$", description="zh-CN or en.")] = "zh-CN",
) -> Response:
    """A summary sheet with one row per organisation (held against required per kind,
    应到 / 实到 / 请假 / 缺席 / 迟到 / 早退 / 出席率 %), a sheet listing the period's meetings,
    and one sheet per recorded meeting (its lines, corrections shown). ``partymap report
    period`` writes the same file. Audited per member shown."""
    root = within(session, user, org_id)
    made = period_workbook(
        session, settings, root_id=root, start=start, end=end, lang=lang, now=datetime.now(UTC)
    )
    audit_member_read(
        session,
        user,
        made.member_ids,
        "read_attendance",
        {
            "what": "period_report",
            "org_id": root,
            "start": made.start.isoformat(),
            "end": made.end.isoformat(),
        },
    )
    session.commit()
    name = f"report-{root or 'all'}-{made.start}-{made.end}.xlsx"
    return Response(
        made.data,
        media_type=XLSX_MIME,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
