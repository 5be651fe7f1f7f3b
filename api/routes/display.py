"""The big screen (大屏): display tokens, and the little a display may read with one.

An admin creates a display token bound to a subtree of theirs (``/api/v1/display-tokens``);
the screen sends it as ``Authorization: Bearer pmd_…`` to ``/api/v1/display/…`` and to those
endpoints only (everywhere else it is not a login: 401). With it the screen reads the map of
its subtree (as the dashboard draws it: clusters, and members one by one at street zoom),
today's meetings with their live attendance, and the subtree's statistics and alert counts —
no member's track, history or other personal data. Every read that shows members is audited
per member under the display's name. Its live stream (``/api/v1/display/stream``) only says
what changed in the subtree, so that the screen redraws at once; it ends when the token is
revoked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field
from sqlalchemy.orm import Session

from api.deps import AdminUser, AppSettings, DbSession, Pagination
from api.geojson import parse_bbox
from api.reports import member_names, names
from api.routes import API_PREFIX
from api.routes.map import SHAPES_ZOOM, roster
from api.routes.stream import _write, sse_events
from api.schemas.common import MAX_ID, Id, In, Name, OrgFilter, Out, Page, path_id
from api.schemas.stats import AlertCounts, StatsOverview
from api.scope import org_in_scope, within
from api.statistics import alerts, counts, overview, report
from geo.meetings.recurrence import local_iso, zone
from maps import detail
from maps import overview as map_overview
from maps.snapshot import Scope
from store import displays
from store.attendance import attendance_sheet
from store.audit import record_audit, record_audit_many
from store.db import end_read_snapshot
from store.errors import NotFoundError
from store.live import LiveEvent
from store.meetings import find_meetings
from store.members import member_paths
from store.models import Organisation
from store.stats import local_midnight

router = APIRouter(prefix=API_PREFIX, tags=["display"])
DisplayId = Annotated[int, path_id("display token")]
TODAY_LISTED = 50
_bearer = HTTPBearer(auto_error=False, description="A display token (pmd_…).")


# -- tokens (admins) ----------------------------------------------------------------------


class DisplayIn(In):
    name: Name = Field(examples=["党群活动中心大屏"])
    org_id: Id | None = Field(
        default=None, description="The subtree it shows (default: the caller's scope)."
    )


class DisplayOut(Out):
    id: int
    name: str
    org_id: int | None
    org_name: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewDisplayOut(DisplayOut):
    token: str = Field(description="Shown once: give it to the screen.")


@router.post(
    "/display-tokens", status_code=status.HTTP_201_CREATED, summary="Create a display token"
)
def create_display(body: DisplayIn, session: DbSession, user: AdminUser) -> NewDisplayOut:
    """A read-only token for a big screen showing ``org_id``'s subtree (within the caller's);
    shown once."""
    org_id = body.org_id if body.org_id is not None else user.scope_org_id
    if org_id is not None:
        org_in_scope(session, user, org_id, write=True)
    made, token = displays.create_display(
        session, name=body.name, org_id=org_id, created_by=user.username
    )
    record_audit(
        session, actor=user.username, actor_user_id=user.user_id or None,
        action="create_display_token", detail={"display_id": made.id, "org_id": org_id},
    )  # fmt: skip
    session.commit()
    return NewDisplayOut(**_out(session, [made])[0].model_dump(), token=token)


@router.get("/display-tokens", summary="List display tokens")
def list_displays(
    session: DbSession, user: AdminUser, params: Pagination, org_id: OrgFilter = None
) -> Page[DisplayOut]:
    found = displays.list_displays(
        session,
        within_org_id=within(session, user, org_id),
        limit=params.limit + 1,
        offset=params.offset,
    )
    items = _out(session, found[: params.limit])
    more = len(found) > params.limit
    return Page[DisplayOut](
        items=items,
        limit=params.limit,
        offset=params.offset,
        next_offset=params.offset + params.limit if more else None,
    )


@router.delete(
    "/display-tokens/{display_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a display token",
)
def revoke_display(display_id: DisplayId, session: DbSession, user: AdminUser) -> None:
    found = displays.get_display(session, display_id=display_id)
    if not (user.whole_tree if found.org_path is None else user.can_admin_org(found.org_path)):
        raise NotFoundError("display token", display_id)
    displays.revoke_display(session, display_id=display_id)
    record_audit(
        session, actor=user.username, actor_user_id=user.user_id or None,
        action="revoke_display_token", detail={"display_id": display_id},
    )  # fmt: skip
    session.commit()


def _out(session: Session, found: list[displays.Display]) -> list[DisplayOut]:
    orgs = names(session, Organisation, {d.org_id for d in found})
    return [
        DisplayOut(
            id=d.id,
            name=d.name,
            org_id=d.org_id,
            org_name=orgs.get(d.org_id) if d.org_id is not None else None,
            created_at=d.created_at,
            created_by=d.created_by,
            revoked_at=d.revoked_at,
            last_used_at=d.last_used_at,
        )
        for d in found
    ]


# -- what a display reads -----------------------------------------------------------------


def current_display(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> displays.Display:
    """The display behind the bearer token (401 for anything else, a login included)."""
    token = credentials.credentials if credentials is not None else ""
    found = displays.display_for_token(session, token=token)
    if found is None or (found.org_id is not None and found.org_path is None):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a display token (pmd_…) is needed: an admin creates one at "
            "POST /api/v1/display-tokens",
            headers={"WWW-Authenticate": "Bearer"},
        )
    session.commit()  # its last use
    return found


DisplayViewer = Annotated[displays.Display, Depends(current_display)]


class DisplayMe(Out):
    id: int
    name: str
    org_id: int | None
    org_name: str | None
    tz: str = Field(description="The reporting zone its 'today' and statistics use.")


class TodayMeeting(Out):
    meeting: dict[str, Any] = Field(description="As the dashboard's meeting list gives it.")
    counts: dict[str, int]
    roll: list[dict[str, Any]] = Field(description="{member_id, name, outcome}.")


class Today(Out):
    date: str
    tz: str
    meetings: list[TodayMeeting]


@router.get("/display/me", summary="The display itself")
def display_me(display: DisplayViewer, session: DbSession, settings: AppSettings) -> DisplayMe:
    org = names(session, Organisation, {display.org_id}) if display.org_id else {}
    return DisplayMe(
        id=display.id,
        name=display.name,
        org_id=display.org_id,
        org_name=org.get(display.org_id) if display.org_id else None,
        tz=settings.meetings_tz,
    )


@router.get("/display/map/overview", summary="The display's map view")
def display_overview(
    request: Request,
    session: DbSession,
    display: DisplayViewer,
    bbox: Annotated[
        str,
        Query(pattern=r"^[^,]+,[^,]+,[^,]+,[^,]+$", description="west,south,east,north."),
    ],
    zoom: Annotated[int, Query(ge=0, le=22)],
) -> Response:
    """As ``/api/v1/map/overview`` for the display's subtree (members drawn one by one are
    audited under the display's name)."""
    box = parse_bbox(bbox)
    assert box is not None
    scope = _scope(display)
    payload = map_overview.overview(roster(request, session), scope, bbox=box, zoom=zoom)
    if zoom >= SHAPES_ZOOM:
        payload.body["shapes"] = detail.shapes_in_view(session, scope, bbox=box)
    _audit(session, display, payload.member_ids, "read_positions", endpoint="overview")
    return _json(payload.body)


@router.get("/display/map/tree", summary="The display's organisation tree, with counts")
def display_tree(
    request: Request,
    session: DbSession,
    display: DisplayViewer,
    parent: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    return _json(map_overview.tree(roster(request, session), _scope(display), parent_id=parent))


@router.get("/display/meetings/today", summary="Today's meetings with live attendance")
def display_today(
    request: Request, session: DbSession, display: DisplayViewer, settings: AppSettings
) -> Today:
    """Meetings of the display's subtree starting today (reporting zone), earliest first, each
    with its attendance now: counts, and the roll with names and statuses."""
    now = datetime.now(UTC)
    tz = settings.meetings_tz
    today = now.astimezone(zone(tz)).date()
    found = find_meetings(
        session,
        within_org_id=display.org_id,
        start=local_midnight(today, tz),
        end=local_midnight(today + timedelta(days=1), tz),
        limit=TODAY_LISTED,
    )
    panel = roster(request, session)
    shown: list[int] = []
    out = []
    for info in found:
        sheet = attendance_sheet(session, meeting_id=info.meeting.id, now=now)
        people = member_names(session, [e.member_id for e in sheet.entries])
        shown += [e.member_id for e in sheet.entries]
        out.append(
            TodayMeeting(
                meeting={
                    **detail.meeting_summary(session, panel, info, now),
                    "start_local": local_iso(info.meeting.start, info.tz),
                    "end_local": local_iso(info.meeting.end, info.tz),
                },
                counts=sheet.counts(),
                roll=[
                    {
                        "member_id": e.member_id,
                        "name": people.get(e.member_id, (None, ""))[1],
                        "outcome": e.status.value,
                    }
                    for e in sheet.entries
                ],
            )
        )
    _audit(session, display, shown, "read_attendance", endpoint="today")
    return Today(date=today.isoformat(), tz=tz, meetings=out)


class DisplayStats(Out):
    statistics: StatsOverview
    alerts: AlertCounts


@router.get("/display/stats", summary="The subtree's statistics and alert counts")
def display_stats(
    session: DbSession, display: DisplayViewer, settings: AppSettings
) -> DisplayStats:
    """This year so far, as ``/api/v1/stats/overview`` and ``/api/v1/alerts/counts`` give it."""
    now = datetime.now(UTC)
    found = report(session, settings, root_id=display.org_id, start=None, end=None, now=now)
    badge = counts(
        alerts(session, settings, root_id=display.org_id,
               kinds={"overdue", "absent_streak", "low_attendance"}, start=None, end=None,
               now=now)
    )  # fmt: skip
    return DisplayStats(statistics=overview(found, display.org_id), alerts=badge)


def _json(body: Any) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, media_type="application/json", headers={"Cache-Control": "no-store"})


def _scope(display: displays.Display) -> Scope:
    return Scope(org_id=display.org_id, org_path=display.org_path)


def _audit(
    session: Session, display: displays.Display, member_ids: Any, what: str, **detail: Any
) -> None:
    """One entry per member shown, committed before the answer leaves."""
    end_read_snapshot(session)
    record_audit_many(
        session,
        actor=display.actor,
        action=what,
        subject_member_ids=sorted(set(member_ids)),
        detail={"via": "display", "display_id": display.id, **detail},
    )
    session.commit()


# -- the display's live stream ------------------------------------------------------------

# What the big screen redraws on: members moving, arriving and leaving (the map, today's
# attendance), meetings starting, ending and recorded, and alerts (the statistics' badge).
SCREEN_EVENTS = frozenset({"position", "presence", "checkin", "visit_ended", "meeting", "alert"})


@router.get(
    "/display/stream",
    summary="What changes in the display's subtree (SSE)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A text/event-stream that stays open.",
            "content": {
                "text/event-stream": {
                    "example": 'event: checkin\ndata: {"type":"checkin"}\n\n'
                    'event: meeting\ndata: {"type":"meeting","state":"recorded",'
                    '"meeting_id":12,"org_id":23}\n\n'
                }
            },
        }
    },
)
async def display_stream(
    request: Request,
    display: DisplayViewer,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> StreamingResponse:
    """Read-only: what changed in the display's subtree, as it happens, so that the screen
    redraws at once instead of polling. Members' events (``position``, ``presence``,
    ``checkin``, ``visit_ended``) carry their type only — no member, place or time: the screen
    then reads the map and today's meetings through the endpoints above, audited as ever.
    ``meeting`` events carry ``state``, ``meeting_id`` and ``org_id``; ``alert`` events the
    alert's kind and ``org_id``. Events repeated within a burst come once. The stream ends
    (``event: end``) within ``sse_recheck_seconds`` of the token's revocation."""
    state = request.app.state
    token = credentials.credentials if credentials is not None else ""
    await run_in_threadpool(
        _write,
        state.sessionmaker,
        lambda session: record_audit(
            session,
            actor=display.actor,
            action="stream_open",
            detail={
                "via": "display",
                "display_id": display.id,
                "scope": display.org_path or "whole tree",
            },
        ),
    )
    return StreamingResponse(
        sse_events(
            request,
            "display",
            partial(_gone, display=display, token=token),
            partial(screen_view, display=display),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _gone(session: Session, *, display: displays.Display, token: str) -> str | None:
    """Why the display's stream must end now (None: it goes on)."""
    now = displays.display_for_token(session, token=token)
    if now is None:
        return "the display token was revoked"
    if (now.org_id, now.org_path) != (display.org_id, display.org_path):
        return "the display's organisation moved: reconnect"
    return None


def screen_view(
    session: Session, display: displays.Display, batch: list[LiveEvent]
) -> list[LiveEvent]:
    """The events of ``batch`` within the display's subtree (members judged by where they
    belong now), each stripped to what the screen redraws on, each once."""
    chosen = [e for e in batch if e.get("type") in SCREEN_EVENTS]
    ids = sorted({m for e in chosen if _of_member(e) and isinstance(m := e.get("member_id"), int)})
    paths = member_paths(session, member_ids=ids) if ids else {}
    out: list[LiveEvent] = []
    seen: set[str] = set()
    for e in chosen:
        member = e.get("member_id")
        path: object
        if _of_member(e) and isinstance(member, int):
            path = paths.get(member, "")
        else:  # a meeting's or an alert's: its organisation's
            path = e.get("org_path")
        if not isinstance(path, str) or not path:
            continue  # a member who no longer exists, or an event of no organisation
        if display.org_path is not None and not path.startswith(display.org_path):
            continue
        kind = e["type"]
        shown: LiveEvent
        if kind == "meeting":
            shown = {"type": kind, "state": e.get("state"), "meeting_id": e.get("meeting_id"),
                     "org_id": e.get("org_id")}  # fmt: skip
        elif kind == "alert":
            shown = {"type": kind, "alert": e.get("alert"), "org_id": e.get("org_id")}
        else:
            shown = {"type": kind}
        key = json.dumps(shown, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(shown)
    return out


def _of_member(event: LiveEvent) -> bool:
    return event.get("type") not in ("meeting", "alert")
