"""The electronic map: the dashboard page at ``/map``, its files, and the data it draws.

The data endpoints under ``/api/v1/map`` answer what the dashboard needs and no more: the view
as server-side clusters (never one record per member at country zoom), the organisation tree a
level at a time with counts, a branch with its members, a member with their track and
check-ins, meetings with live attendance, and search. They see what the caller may see
(:class:`maps.snapshot.Scope` from the caller's role and organisation), and every answer that
reveals members' positions, tracks or attendance writes their audit entries in the same
transaction. Overview and tree share one snapshot of the organisation, read at most every
``map_refresh_seconds``.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy.orm import Session

from api.deps import AppSettings, CurrentUser, DbSession, Principal, audit_member_read
from api.geojson import parse_bbox
from api.routes import API_PREFIX
from api.schemas.common import MAX_ID, MeetingId, MemberId, OrgId
from maps import detail, overview
from maps.cache import RosterCache
from maps.page import PageOptions, dashboard_html, static_file
from maps.snapshot import Roster, Scope, Structure, load_roster, tree_fingerprint
from partymap.settings import Settings
from store.errors import InvalidValueError
from store.models import Role

router = APIRouter(tags=["map"])
MAP = f"{API_PREFIX}/map"
SHAPES_ZOOM = 13  # site outlines come with the overview from this zoom on
# The days a track may be asked for (far outside them date arithmetic would overflow).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
_NO_MEMBER = 0  # ids start at 1: a member user without a member record sees no one
_cache_lock = threading.Lock()


def scope_of(user: Principal) -> Scope:
    """What the map shows ``user``: an admin's subtree (or all), a member's own records."""
    if user.role is Role.MEMBER:
        member = user.member_id if user.member_id is not None else _NO_MEMBER
        return Scope(org_id=user.org_id, org_path=user.org_path, member_id=member)
    return Scope(org_id=user.org_id, org_path=user.org_path)


def roster(request: Request, session: Session) -> Roster:
    """The app's shared snapshot of the organisation (made on first use), reloaded when the
    tree, memberships or sites changed since (or after ``map_refresh_seconds``)."""
    state = request.app.state
    with _cache_lock:
        cache = getattr(state, "map_roster", None)
        if cache is None:
            settings: Settings = state.settings

            def load(structure: Structure | None) -> Roster:
                with state.sessionmaker() as own:
                    return load_roster(
                        own,
                        now=datetime.now(UTC),
                        stale_after=timedelta(seconds=settings.map_stale_after_seconds),
                        structure=structure,
                    )

            cache = state.map_roster = RosterCache(load, max_age_s=settings.map_refresh_seconds)
    return cache.get(tree_fingerprint(session))


def forget_roster(state: Any) -> None:
    """The organisation, sites or members changed on another node: the next request reads the
    snapshot again (the tree's fingerprint misses a site moved or renamed)."""
    cache: RosterCache | None = getattr(state, "map_roster", None)
    if cache is not None:
        cache.invalidate()


def _json(body: Any) -> Response:
    # json.dumps straight away: FastAPI's encoder would walk every value of large bodies.
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, media_type="application/json", headers={"Cache-Control": "no-store"})


def _audited(
    session: Session, user: Principal, payload: overview.Payload, what: str, **detail: Any
) -> Response:
    # The body leaves only once its audit entries are committed: nothing is served unaudited.
    audit_member_read(session, user, payload.member_ids, what, {"via": "map", **detail})
    session.commit()
    return _json(payload.body)


@lru_cache(maxsize=16)
def _page(language: str, tiles: str, tianditu_key: str | None) -> str:
    return dashboard_html(PageOptions(language=language, tiles=tiles, tianditu_key=tianditu_key))


@router.get("/map", include_in_schema=False, response_class=HTMLResponse)
def dashboard(
    settings: AppSettings,
    lang: Annotated[Literal["zh-CN", "en"] | None, Query()] = None,
) -> HTMLResponse:
    """The dashboard; it asks for a login itself when the browser has no session cookie."""
    key = settings.tianditu_key.get_secret_value() if settings.tianditu_key else None
    return HTMLResponse(_page(lang or settings.language, settings.tiles, key))


@router.get("/map/static/{path:path}", include_in_schema=False)
def static(path: str, v: str | None = None) -> FileResponse:
    """Leaflet, the dashboard's script and styles, the land outline."""
    found = static_file(path)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no file {path!r}")
    # Versioned URLs (?v=<content hash>) never change: cache them for a year.
    cache = "public, max-age=31536000, immutable" if v else "public, max-age=3600"
    return FileResponse(found, headers={"Cache-Control": cache})


@router.get(f"{MAP}/overview", summary="The map view: clusters, members and sites")
def read_overview(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    bbox: Annotated[
        str,
        Query(
            pattern=r"^[^,]+,[^,]+,[^,]+,[^,]+$",
            description="The view: west,south,east,north (WGS 84 degrees).",
            examples=["73,18,135,54"],
        ),
    ],
    zoom: Annotated[int, Query(ge=0, le=22, description="The map's zoom level.")],
) -> Response:
    """Members and sites in the view, grouped on a grid of the zoom level: clusters with counts
    per state (members) or kind (sites), and the points that stand alone. Members drawn one
    by one are audited (``read_positions``); clusters reveal no one."""
    box = parse_bbox(bbox)
    assert box is not None
    scope = scope_of(user)
    payload = overview.overview(roster(request, session), scope, bbox=box, zoom=zoom)
    if zoom >= SHAPES_ZOOM:
        payload.body["shapes"] = detail.shapes_in_view(session, scope, bbox=box)
    return _audited(session, user, payload, "read_positions", endpoint="overview")


@router.get(f"{MAP}/tree", summary="One level of the organisation tree, with counts")
def read_tree(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    parent: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Children of this organisation.")
    ] = None,
) -> Response:
    """The children of ``parent`` (default: the top of the caller's scope), each with its
    members per state and its sites counted over the whole subtree."""
    return _json(overview.tree(roster(request, session), scope_of(user), parent_id=parent))


@router.get(f"{MAP}/orgs/{{org_id}}", summary="A branch: its sites and members with state")
def read_org(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    org_id: OrgId,
) -> Response:
    """An organisation's breadcrumbs, bounds, site outlines and the members of its subtree
    with their state (audited: ``read_positions``)."""
    payload = detail.org_detail(session, roster(request, session), scope_of(user), org_id=org_id)
    return _audited(session, user, payload, "read_positions", endpoint="org", org_id=org_id)


@router.get(f"{MAP}/members/{{member_id}}", summary="A member: track and check-ins")
def read_member(
    *,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    member_id: MemberId,
    hours: Annotated[float, Query(gt=0, le=168, description="Track of the last hours.")] = 24,
    day: Annotated[
        date | None,
        Query(
            description="Track of this day (00:00–24:00 in the member's time zone) instead.",
            examples=["2026-05-01"],
        ),
    ] = None,
) -> Response:
    """Where the member is, their track over the last ``hours`` or one ``day`` (thinned), and
    their recent check-ins with the evidence summary (audited: ``read_track``)."""
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidValueError(f"day must lie between {FIRST_DAY} and {LAST_DAY}")
    payload = detail.member_detail(
        session,
        roster(request, session),
        scope_of(user),
        member_id=member_id,
        now=datetime.now(UTC),
        hours=hours,
        day=day,
    )
    what = {"day": day.isoformat()} if day is not None else {"hours": hours}
    return _audited(session, user, payload, "read_track", endpoint="member", **what)


@router.get(f"{MAP}/meetings", summary="Meetings of the caller's organisations")
def read_meetings(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """From a day ago to two weeks ahead, with their status now."""
    scope = scope_of(user)
    return _json(detail.meetings(session, roster(request, session), scope, now=datetime.now(UTC)))


@router.get(f"{MAP}/meetings/{{meeting_id}}", summary="A meeting with live attendance")
def read_meeting(
    request: Request, session: DbSession, user: CurrentUser, meeting_id: MeetingId
) -> Response:
    """Each expected member's attendance as it stands now (audited: ``read_attendance``)."""
    now = datetime.now(UTC)
    panel = roster(request, session)
    payload = detail.meeting_panel(session, panel, scope_of(user), meeting_id=meeting_id, now=now)
    return _audited(session, user, payload, "read_attendance", meeting_id=meeting_id)


@router.get(f"{MAP}/search", summary="Find members and organisations by name")
def read_search(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    q: Annotated[str, Query(min_length=1, max_length=50, description="Part of a name.")],
) -> Response:
    return _json(overview.search(roster(request, session), scope_of(user), query=q))


@router.get(f"{MAP}/names", summary="Names of members and sites by id")
def read_names(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    members: Annotated[str, Query(pattern=r"^[0-9]{0,10}(,[0-9]{1,10}){0,199}$")] = "",
    sites: Annotated[str, Query(pattern=r"^[0-9]{0,10}(,[0-9]{1,10}){0,199}$")] = "",
) -> Response:
    """For live events, which carry ids only; ids the caller may not see are left out."""
    return _json(
        overview.names(
            roster(request, session),
            scope_of(user),
            member_ids=[int(i) for i in members.split(",") if i],
            site_ids=[int(i) for i in sites.split(",") if i],
        )
    )
