"""``/api/v1/meetings`` (三会一课, 主题党日): scheduling, editing, cancelling and history; the
attendance of each meeting as JSON, CSV or XLSX; ``/api/v1/stats/attendance`` per organisation.

Times given without an offset are local to the meeting's zone (its site's; for a meeting
without a site, ``tz`` or the reporting zone ``PARTYMAP_MEETINGS_TZ``). Every read of
members' attendance writes one ``read_attendance`` audit entry per member before it is
served; every change is audited too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from api.deps import (
    AdminUser,
    AppSettings,
    CurrentUser,
    DbSession,
    Pagination,
    Principal,
    audit_member_read,
)
from api.exports import meeting_csv, meeting_xlsx
from api.formats import CSV, XLSX, csv_table, xlsx_table
from api.reports import (
    STATS_HEADER,
    attendance_out,
    attendance_stats,
    describe_meetings,
    meeting_sheet,
    stats_rows,
)
from api.routes import API_PREFIX
from api.schemas.common import IsoTime, MeetingId, OrgFilter, Page, SiteFilter, paged
from api.schemas.meetings import (
    AttendanceCounts,
    AttendanceOut,
    AttendanceSummary,
    CancelIn,
    MeetingIn,
    MeetingOut,
    MeetingPatch,
    OrgAttendanceOut,
    SummaryOut,
)
from api.scope import check_person, meeting_in_scope, meeting_zone, org_in_scope, within
from geo.meetings.recurrence import to_utc
from geo.model import MeetingKind
from partymap.settings import Settings
from store import meetings
from store.alerts import AlertRules
from store.attendance import record_meeting
from store.audit import record_audit
from store.errors import NotFoundError
from store.models import Role
from store.orgs import get_organisation

router = APIRouter(prefix=API_PREFIX, tags=["meetings"])


class TableFormat(Enum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


class Order(Enum):
    ASC = "asc"
    DESC = "desc"


FormatQuery = Annotated[
    TableFormat, Query(description="json (paged), or csv / xlsx (the whole table).")
]
LangQuery = Annotated[
    str, Query(pattern="^(zh-CN|en)$", description="Headers of csv / xlsx: zh-CN or en.")
]
_TABLE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/json": {}, CSV: {}, XLSX: {}}}
}


def alert_rules(settings: Settings) -> AlertRules:
    return AlertRules(
        absent_streak=settings.meetings_alert_absent_streak,
        min_rate=settings.meetings_alert_min_rate,
    )


@router.get("/meetings", summary="Meeting history and schedule")
def list_meetings(
    *,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    org_id: OrgFilter = None,
    site_id: SiteFilter = None,
    kind: MeetingKind | None = None,
    status: Annotated[
        list[meetings.MeetingState] | None,
        Query(description="Only meetings in these states now (repeat the parameter)."),
    ] = None,
    start: Annotated[IsoTime | None, Query(description="Starting at or after.")] = None,
    end: Annotated[IsoTime | None, Query(description="Starting before.")] = None,
    order: Annotated[Order, Query(description="asc: earliest first; desc: newest.")] = Order.ASC,
) -> Page[MeetingOut]:
    """Meetings in the caller's scope starting in [start, end): an admin's subtree (or
    ``org_id``'s), a member's own meetings (those of their organisation and the ones above
    it, whose roll they are on)."""
    now = datetime.now(UTC)
    if user.role is Role.MEMBER:
        scope, org_ids = None, _member_orgs(user, org_id)
    else:
        scope, org_ids = within(session, user, org_id), None
    found = meetings.find_meetings(
        session,
        within_org_id=scope,
        org_ids=org_ids,
        site_id=site_id,
        kind=kind,
        states=status,
        start=start,
        end=end,
        now=now,
        newest_first=order is Order.DESC,
        limit=params.limit + 1,
        offset=params.offset,
    )
    return paged(MeetingOut, describe_meetings(session, found, now=now), params, lambda m: m)


@router.get("/meetings/{meeting_id}", summary="Read a meeting")
def read_meeting(meeting_id: MeetingId, session: DbSession, user: CurrentUser) -> MeetingOut:
    meeting_in_scope(session, user, meeting_id)
    return _describe(session, meeting_id)


@router.post("/meetings", status_code=status.HTTP_201_CREATED, summary="Schedule a meeting")
def create_meeting(
    body: MeetingIn, session: DbSession, user: AdminUser, settings: AppSettings
) -> MeetingOut:
    """The site must be in the caller's scope or belong to an organisation above the
    meeting's (a branch meeting in the party committee's hall); so must the host and the
    recorder. Times without an offset are the site's local time."""
    org = org_in_scope(session, user, body.org_id, write=True)
    tz = meeting_zone(
        session=session,
        user=user,
        site_id=body.site_id,
        tz=body.tz,
        org_path=org.path,
        default_tz=settings.meetings_tz,
    )
    for member_id in (body.host_member_id, body.recorder_member_id):
        check_person(session, user, member_id, org.path)
    meeting = meetings.create_meeting(
        session,
        org_id=body.org_id,
        site_id=body.site_id,
        kind=body.kind,
        start=to_utc(body.start, tz),
        end=to_utc(body.end, tz),
        title=body.title,
        topic=body.topic,
        tz=tz,
        host_member_id=body.host_member_id,
        recorder_member_id=body.recorder_member_id,
        early=timedelta(seconds=body.early_s),
        late_grace=timedelta(seconds=body.late_grace_s),
        left_early_margin=timedelta(seconds=body.left_early_margin_s),
    )
    _audit(session, user, "schedule_meeting", meeting.id, {"org_id": body.org_id})
    session.commit()
    return _describe(session, meeting.id)


@router.patch("/meetings/{meeting_id}", summary="Change a meeting")
def update_meeting(
    meeting_id: MeetingId,
    body: MeetingPatch,
    session: DbSession,
    user: AdminUser,
    settings: AppSettings,
) -> MeetingOut:
    """Fields left out stay; ``site_id``, ``host_member_id`` or ``recorder_member_id`` set to
    null empty them. Refused (409) for a cancelled meeting, and for the time or place of a
    recorded one. A meeting of a plan changed here keeps its changes when the plan changes."""
    meeting = meeting_in_scope(session, user, meeting_id, write=True)
    info = meetings.get_meeting_info(session, meeting_id=meeting_id)
    org_path = get_organisation(session, org_id=meeting.org_id).path
    given = body.model_fields_set
    clear = {f for f in meetings.CLEARABLE if f in given and getattr(body, f) is None}
    new_site = body.site_id if "site_id" in given else meeting.site_id
    if new_site is not None and ("site_id" in given or body.tz is not None):
        tz = meeting_zone(
            session=session,
            user=user,
            site_id=new_site,
            tz=body.tz,
            org_path=org_path,
            default_tz=settings.meetings_tz,
        )
    elif new_site is None and body.tz is not None:
        tz = body.tz
    else:
        tz = info.tz
    for member_id in (body.host_member_id, body.recorder_member_id):
        check_person(session, user, member_id, org_path)
    meetings.update_meeting(
        session,
        meeting_id=meeting_id,
        site_id=body.site_id,
        kind=body.kind,
        start=to_utc(body.start, tz) if body.start else None,
        end=to_utc(body.end, tz) if body.end else None,
        title=body.title,
        topic=body.topic,
        tz=tz if tz != info.tz else None,
        host_member_id=body.host_member_id,
        recorder_member_id=body.recorder_member_id,
        clear=clear,
    )
    _audit(session, user, "change_meeting", meeting_id, {"fields": sorted(given)})
    session.commit()
    return _describe(session, meeting_id)


@router.post("/meetings/{meeting_id}/cancel", summary="Cancel a meeting")
def cancel_meeting(
    meeting_id: MeetingId, body: CancelIn, session: DbSession, user: AdminUser
) -> MeetingOut:
    """The meeting stays in the history as cancelled, with who cancelled it and why. Refused
    (409) once its attendance is recorded."""
    meeting_in_scope(session, user, meeting_id, write=True)
    meetings.cancel_meeting(session, meeting_id=meeting_id, reason=body.reason, actor=user.username)
    _audit(session, user, "cancel_meeting", meeting_id, {"reason": body.reason})
    session.commit()
    return _describe(session, meeting_id)


@router.delete(
    "/meetings/{meeting_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a meeting scheduled by mistake",
)
def delete_meeting(meeting_id: MeetingId, session: DbSession, user: AdminUser) -> None:
    """Only before it starts and while no leave or attendance refers to it (409 otherwise:
    cancel it instead, which keeps the history)."""
    meeting_in_scope(session, user, meeting_id, write=True)
    meetings.delete_meeting(session, meeting_id=meeting_id)
    _audit(session, user, "delete_meeting", meeting_id, {})
    session.commit()


@router.get(
    "/meetings/{meeting_id}/attendance",
    summary="Attendance (JSON, CSV, XLSX)",
    response_model=Page[AttendanceOut],
    responses=_TABLE_RESPONSES,
)
def read_attendance(
    *,
    meeting_id: MeetingId,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    format: FormatQuery = TableFormat.JSON,
    lang: LangQuery = "zh-CN",
) -> Response | Page[AttendanceOut]:
    """Each member on the meeting's roll: ``present``, ``late``, ``left_early``, ``absent``
    or ``excused`` (and ``pending`` while the meeting goes on), as recorded, or as it stands
    now before the meeting is recorded; with the automatic decision, its evidence, leave and
    corrections. A member sees their own line only. The files name the meeting and end with
    the summary (应到 / 实到 / 请假 / 缺席 / 出席率 %). Every member returned (a JSON page, or the
    whole CSV / XLSX table) is audited: ``read_attendance``."""
    meeting_in_scope(session, user, meeting_id)
    sheet = meeting_sheet(session, meeting_id=meeting_id, now=datetime.now(UTC))
    if user.role is Role.MEMBER:
        sheet = sheet.only(user.member_id)
    if format is TableFormat.JSON:
        lines = params.window(sheet.lines)
        _audit_attendance(
            session, user, meeting_id, [line.member_id for line in lines[: params.limit]], format
        )
        return paged(AttendanceOut, lines, params, attendance_out)
    _audit_attendance(session, user, meeting_id, sheet.member_ids(), format)
    if format is TableFormat.CSV:
        return _file(f"attendance-{meeting_id}.csv", CSV, meeting_csv(sheet, lang))
    return _file(f"attendance-{meeting_id}.xlsx", XLSX, meeting_xlsx(sheet, lang))


@router.get("/meetings/{meeting_id}/attendance/counts", summary="Attendance in numbers")
def read_attendance_counts(
    meeting_id: MeetingId, session: DbSession, user: CurrentUser
) -> AttendanceCounts:
    """How many members are in each status now (or as recorded), without naming anyone."""
    meeting_in_scope(session, user, meeting_id)
    now = datetime.now(UTC)
    sheet = meeting_sheet(session, meeting_id=meeting_id, now=now).sheet
    return AttendanceCounts(
        meeting_id=meeting_id,
        status=sheet.info.state(now),
        counts=sheet.counts(),
        summary=SummaryOut.of(sheet.summary()),
    )


def _audit_attendance(
    session: Session, user: Principal, meeting_id: int, member_ids: list[int], format: TableFormat
) -> None:
    """Attendance is personal data: one ``read_attendance`` entry per member returned,
    committed before the answer leaves."""
    detail = {"meeting_id": meeting_id, "format": format.value}
    audit_member_read(session, user, member_ids, "read_attendance", detail)
    session.commit()


@router.post(
    "/meetings/{meeting_id}/attendance",
    summary="Record attendance by hand",
    response_model=AttendanceSummary,
)
def record_attendance(
    meeting_id: MeetingId, session: DbSession, user: AdminUser, settings: AppSettings
) -> AttendanceSummary:
    """Attendance is recorded automatically once a meeting has ended (plus
    ``PARTYMAP_MEETINGS_RECORD_GRACE_SECONDS``). This records it now, or decides it again
    for the same roll after late visits arrived (corrections stay). Refused (409) before the
    meeting ends, and for a cancelled meeting."""
    meeting_in_scope(session, user, meeting_id, write=True)
    sheet = record_meeting(session, meeting_id=meeting_id, again=True, rules=alert_rules(settings))
    assert sheet is not None  # ``again`` records whatever was recorded before
    _audit(session, user, "record_attendance", meeting_id, {"counts": sheet.counts()})
    session.commit()
    return AttendanceSummary(meeting_id=meeting_id, counts=sheet.counts())


@router.get(
    "/stats/attendance",
    summary="Recorded attendance per organisation",
    response_model=Page[OrgAttendanceOut],
    responses=_TABLE_RESPONSES,
)
def read_stats(
    *,
    session: DbSession,
    user: AdminUser,
    params: Pagination,
    org_id: OrgFilter = None,
    start: Annotated[IsoTime | None, Query(description="Meetings starting at or after.")] = None,
    end: Annotated[IsoTime | None, Query(description="Meetings starting before.")] = None,
    format: FormatQuery = TableFormat.JSON,
) -> Response | Page[OrgAttendanceOut]:
    """Recorded statuses counted per organisation that held meetings in [start, end)."""
    stats = attendance_stats(
        session, within_org_id=within(session, user, org_id), start=start, end=end
    )
    if format is TableFormat.JSON:
        return paged(
            OrgAttendanceOut,
            params.window(stats),
            params,
            lambda s: OrgAttendanceOut(
                **s._asdict(),
                total=s.total,
                attended=s.attended,
                attendance_rate=s.attendance_rate,
            ),
        )
    if format is TableFormat.CSV:
        body = csv_table(STATS_HEADER, stats_rows(stats))
        return _file("attendance-stats.csv", CSV, body)
    return _file(
        "attendance-stats.xlsx", XLSX, xlsx_table("statistics", STATS_HEADER, stats_rows(stats))
    )


def _describe(session: Session, meeting_id: int) -> MeetingOut:
    info = meetings.get_meeting_info(session, meeting_id=meeting_id)
    return describe_meetings(session, [info], now=datetime.now(UTC))[0]


def _file(name: str, media: str, body: bytes | str) -> Response:
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _audit(
    session: Session, user: Principal, action: str, meeting_id: int, detail: dict[str, Any]
) -> None:
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id or None,
        action=action,
        detail={"meeting_id": meeting_id, **detail},
    )


def _member_orgs(user: Principal, org_id: int | None) -> list[int]:
    """The organisations whose meetings a member is expected at: theirs and those above
    (``org_id``: that one of them; any other is answered as if it did not exist)."""
    chain = [int(part) for part in (user.org_path or "").strip("/").split("/") if part]
    if org_id is None:
        return chain
    if org_id not in chain:
        raise NotFoundError("organisation", org_id)
    return [org_id]
