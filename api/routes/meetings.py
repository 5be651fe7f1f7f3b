"""``/api/v1/meetings`` (三会一课, 主题党日), their attendance as JSON, CSV or XLSX, and
``/api/v1/stats/attendance`` per organisation."""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from api.deps import (
    AdminUser,
    CurrentUser,
    DbSession,
    Pagination,
    Principal,
    audit_member_read,
)
from api.formats import CSV, XLSX, csv_table, xlsx_table
from api.reports import (
    STATS_HEADER,
    attendance_stats,
    meeting_attendance,
    record_meeting_attendance,
    stats_rows,
)
from api.routes import API_PREFIX
from api.schemas.common import MeetingId, OrgFilter, Page, SiteFilter, paged
from api.schemas.meetings import (
    AttendanceOut,
    AttendanceSummary,
    MeetingIn,
    MeetingOut,
    MeetingPatch,
    OrgAttendanceOut,
)
from api.scope import meeting_in_scope, org_in_scope, within
from geo.model import MeetingKind
from store import meetings
from store.errors import NotFoundError
from store.models import Role
from store.orgs import get_organisation
from store.sites import get_site

router = APIRouter(prefix=API_PREFIX, tags=["meetings"])


class TableFormat(Enum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


FormatQuery = Annotated[
    TableFormat, Query(description="json (paged), or csv / xlsx (the whole table).")
]
_TABLE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/json": {}, CSV: {}, XLSX: {}}}
}


@router.get("/meetings", summary="List meetings")
def list_meetings(
    *,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    org_id: OrgFilter = None,
    site_id: SiteFilter = None,
    kind: MeetingKind | None = None,
    start: Annotated[AwareDatetime | None, Query(description="Starting at or after.")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Starting before.")] = None,
) -> Page[MeetingOut]:
    """Meetings in the caller's scope (a member: their organisation's), earliest first."""
    scope = within(session, user, org_id)
    found = meetings.list_meetings(
        session,
        within_org_id=None if user.role is Role.MEMBER else scope,
        org_id=scope if user.role is Role.MEMBER else None,
        site_id=site_id,
        kind=kind,
        start=start,
        end=end,
        limit=params.limit + 1,
        offset=params.offset,
    )
    return paged(MeetingOut, found, params, MeetingOut.of)


@router.get("/meetings/{meeting_id}", summary="Read a meeting")
def read_meeting(meeting_id: MeetingId, session: DbSession, user: CurrentUser) -> MeetingOut:
    return MeetingOut.of(meeting_in_scope(session, user, meeting_id))


@router.post("/meetings", status_code=status.HTTP_201_CREATED, summary="Schedule a meeting")
def create_meeting(body: MeetingIn, session: DbSession, user: AdminUser) -> MeetingOut:
    """The site must be in the caller's scope or belong to an organisation above the
    meeting's (a branch meeting in the party committee's hall)."""
    org = org_in_scope(session, user, body.org_id, write=True)
    _check_site(session, user, body.site_id, org.path)
    meeting = meetings.create_meeting(
        session,
        org_id=body.org_id,
        site_id=body.site_id,
        kind=body.kind,
        start=body.start,
        end=body.end,
        title=body.title,
        early=timedelta(seconds=body.early_s),
        late_grace=timedelta(seconds=body.late_grace_s),
        left_early_margin=timedelta(seconds=body.left_early_margin_s),
    )
    session.commit()
    return MeetingOut.of(meeting)


@router.patch("/meetings/{meeting_id}", summary="Change a meeting")
def update_meeting(
    meeting_id: MeetingId, body: MeetingPatch, session: DbSession, user: AdminUser
) -> MeetingOut:
    meeting = meeting_in_scope(session, user, meeting_id, write=True)
    if body.site_id is not None:
        org = get_organisation(session, org_id=meeting.org_id)
        _check_site(session, user, body.site_id, org.path)
    changed = meetings.update_meeting(
        session,
        meeting_id=meeting_id,
        site_id=body.site_id,
        kind=body.kind,
        start=body.start,
        end=body.end,
        title=body.title,
    )
    session.commit()
    return MeetingOut.of(changed)


@router.delete(
    "/meetings/{meeting_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a meeting"
)
def delete_meeting(meeting_id: MeetingId, session: DbSession, user: AdminUser) -> None:
    meeting_in_scope(session, user, meeting_id, write=True)
    meetings.delete_meeting(session, meeting_id=meeting_id)
    session.commit()


@router.get(
    "/meetings/{meeting_id}/attendance",
    summary="Attendance (JSON, CSV, XLSX)",
    response_model=Page[AttendanceOut],
    responses=_TABLE_RESPONSES,
)
def read_attendance(
    meeting_id: MeetingId,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    format: FormatQuery = TableFormat.JSON,
) -> Response | Page[AttendanceOut]:
    """Each member of the meeting's organisation: present, late, left_early or absent, as
    their visits to the site say now. A member sees their own line only. Every member
    returned (a JSON page, or the whole CSV / XLSX table) is audited: ``read_attendance``."""
    meeting_in_scope(session, user, meeting_id)
    report = meeting_attendance(session, meeting_id=meeting_id)
    if user.role is Role.MEMBER:
        lines = tuple(line for line in report.lines if line.member_id == user.member_id)
        report = type(report)(report.meeting, report.site, lines)
    if format is TableFormat.JSON:
        page = paged(
            AttendanceOut,
            params.window(report.lines),
            params,
            lambda line: AttendanceOut.model_validate(line._asdict()),
        )
        _audit_attendance(session, user, meeting_id, [a.member_id for a in page.items], format)
        return page
    _audit_attendance(session, user, meeting_id, [line.member_id for line in report.lines], format)
    header, rows = report.table()
    return _download(f"attendance-{meeting_id}", "attendance", format, header, rows)


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
    summary="Record attendance",
    response_model=AttendanceSummary,
)
def record_attendance(
    meeting_id: MeetingId, session: DbSession, user: AdminUser
) -> AttendanceSummary:
    """Decide attendance now and store it: the statistics count stored attendance. Run it
    again after late visits arrive; it replaces what was stored."""
    meeting_in_scope(session, user, meeting_id, write=True)
    report = record_meeting_attendance(session, meeting_id=meeting_id)
    session.commit()
    return AttendanceSummary(meeting_id=meeting_id, counts=report.counts())


@router.get(
    "/stats/attendance",
    summary="Attendance statistics per organisation",
    response_model=Page[OrgAttendanceOut],
    responses=_TABLE_RESPONSES,
)
def read_stats(
    *,
    session: DbSession,
    user: AdminUser,
    params: Pagination,
    org_id: OrgFilter = None,
    start: Annotated[
        AwareDatetime | None, Query(description="Meetings starting at or after.")
    ] = None,
    end: Annotated[AwareDatetime | None, Query(description="Meetings starting before.")] = None,
    format: FormatQuery = TableFormat.JSON,
) -> Response | Page[OrgAttendanceOut]:
    """Recorded outcomes counted per organisation that held meetings in [start, end)."""
    stats = attendance_stats(
        session, within_org_id=within(session, user, org_id), start=start, end=end
    )
    if format is TableFormat.JSON:
        return paged(
            OrgAttendanceOut,
            params.window(stats),
            params,
            lambda s: OrgAttendanceOut(
                **s._asdict(), total=s.total, attendance_rate=s.attendance_rate
            ),
        )
    return _download("attendance-stats", "statistics", format, STATS_HEADER, stats_rows(stats))


def _download(
    stem: str, title: str, format: TableFormat, header: list[str], rows: list[list[object]]
) -> Response:
    if format is TableFormat.CSV:
        body: bytes | str = csv_table(header, rows)
        media, suffix = CSV, "csv"
    else:
        body = xlsx_table(title, header, rows)
        media, suffix = XLSX, "xlsx"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{stem}.{suffix}"'},
    )


def _check_site(session: Session, user: Principal, site_id: int, org_path: str) -> None:
    site = get_site(session, site_id=site_id)
    site_path = get_organisation(session, org_id=site.org_id).path
    if not (user.can_see_org(site_path) or org_path.startswith(site_path)):
        raise NotFoundError("site", site_id)
