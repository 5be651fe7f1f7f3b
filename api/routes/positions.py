"""Where members are and were: latest positions (GeoJSON) and a member's track (GeoJSON, GPX).

Both are personal data: every member whose position is returned gets an audit entry
(``read_positions`` / ``read_track``) committed with the response.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from api.deps import CurrentUser, DbSession, audit_member_read
from api.encode import collection, latest_features, track_features
from api.formats import GPX, gpx_track, iso
from api.geojson import (
    GEOJSON,
    BBoxQuery,
    FeatureCollection,
    GeoJSONResponse,
    parse_bbox,
)
from api.routes import API_PREFIX
from api.schemas.common import MAX_ID, MemberId, OrgFilter
from api.scope import member_in_scope, within
from store.errors import InvalidValueError
from store.latest import latest_positions
from store.members import member_names
from store.models import Role
from store.tracks import track

router = APIRouter(prefix=API_PREFIX, tags=["positions"])

MAX_LATEST = 10_000
MAX_TRACK = 100_000
MAX_TRACK_SPAN = timedelta(days=31)


class TrackFormat(Enum):
    GEOJSON = "geojson"
    GPX = "gpx"


@router.get(
    "/positions/latest",
    summary="Latest positions (GeoJSON)",
    response_model=FeatureCollection,
    response_class=GeoJSONResponse,
)
def read_latest(
    *,
    session: DbSession,
    user: CurrentUser,
    org_id: OrgFilter = None,
    bbox: BBoxQuery = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Only fixes at or after this time.")
    ] = None,
    after_member_id: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="Page on: the last member id of the previous page."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LATEST)] = 1000,
) -> Response:
    """Each member's newest accepted fix as a Point Feature (id = member id), ordered by
    member; ``next_after_member_id`` says where the next page starts. Audited per member."""
    box = parse_bbox(bbox)
    if user.role is Role.MEMBER:
        if org_id is not None:
            within(session, user, org_id)
        scope: dict[str, Any] = {"member_ids": [user.member_id]}
    else:
        scope = {"within_org_id": within(session, user, org_id)}
    fixes = latest_positions(
        session, bbox=box, since=since, after_member_id=after_member_id, limit=limit + 1, **scope
    )
    more = len(fixes) > limit
    fixes = fixes[:limit]
    names = member_names(session, member_ids=[f.member_id for f in fixes])
    audit_member_read(
        session,
        user,
        [f.member_id for f in fixes],
        "read_positions",
        {"endpoint": "latest", "org_id": org_id, "bbox": bbox},
    )
    session.commit()
    body = collection(
        latest_features(fixes, names),
        limit=limit,
        next_after_member_id=fixes[-1].member_id if more else None,
    )
    return Response(body, media_type=GEOJSON)


@router.get(
    "/members/{member_id}/track",
    summary="A member's track (GeoJSON or GPX)",
    response_model=FeatureCollection,
    response_class=GeoJSONResponse,
    responses={200: {"content": {GEOJSON: {}, GPX: {}}}},
)
def read_track(
    *,
    member_id: MemberId,
    session: DbSession,
    user: CurrentUser,
    start: Annotated[
        AwareDatetime | None, Query(description="From (default: 24 hours before `end`).")
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(description="Until, exclusive (default: now).")
    ] = None,
    format: Annotated[TrackFormat, Query(description="geojson or gpx.")] = TrackFormat.GEOJSON,
    include_rejected: Annotated[
        bool, Query(description="Also fixes the quality rules rejected (with their reasons).")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_TRACK)] = 20_000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """The member's fixes in [start, end), oldest first: Point Features with time and quality,
    or a GPX 1.1 track. At most 31 days per request; page with ``offset``. Audited."""
    member = member_in_scope(session, user, member_id)
    end = end or datetime.now(UTC)
    start = start or end - timedelta(hours=24)
    if not start < end or end - start > MAX_TRACK_SPAN:
        raise InvalidValueError("give start < end, at most 31 days apart")
    points = track(
        session,
        member_id=member_id,
        start=start,
        end=end,
        include_rejected=include_rejected,
        limit=limit + 1,
        offset=offset,
    )
    more = len(points) > limit
    points = points[:limit]
    detail = {"start": iso(start), "end": iso(end), "format": format.value, "points": len(points)}
    audit_member_read(session, user, [member_id], "read_track", detail)
    session.commit()
    if format is TrackFormat.GPX:
        filename = f"track-{member_id}-{start:%Y%m%d}.gpx"
        return Response(
            gpx_track(member.name, points),
            media_type=GPX,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    body = collection(
        track_features(points),
        member_id=member_id,
        start=iso(start),
        end=iso(end),
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )
    return Response(body, media_type=GEOJSON)
