"""Where members are and were: latest positions (GeoJSON), a member's track (GeoJSON, GPX), and
a device's decoded fixes as stored (accepted and rejected, positionless ones included).

All are personal data: every member whose position is returned gets an audit entry
(``read_positions`` / ``read_track`` / ``read_fixes``) committed with the response.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

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
from api.principal import Principal
from api.routes import API_PREFIX
from api.schemas.common import MAX_ID, DeviceId, MemberId, OrgFilter
from api.scope import device_in_scope, member_in_scope, within
from store.errors import InvalidValueError, NotFoundError
from store.latest import latest_positions
from store.members import member_names
from store.models import Role
from store.tracks import device_carriers, device_fix_counts, list_positions, track

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


class StoredFix(BaseModel):
    id: int = Field(description="Arrival order: page on with `after_id`.")
    fix_time: datetime
    received_at: datetime
    source: str = Field(examples=["tcp"])
    member_id: int | None = Field(description="Who carried the device then (null: nobody).")
    lat: float | None = Field(description="Null for an epoch without a position (no fix).")
    lon: float | None
    alt_m: float | None
    quality: int = Field(description="GGA fix quality (0: invalid, 1: GPS, 2: DGPS, 4: RTK…).")
    mode: int = Field(description="1: no fix, 2: 2D, 3: 3D.")
    hdop: float | None
    sats_used: int | None
    accuracy_m: float | None
    rejections: list[str] = Field(
        description="The quality rules it failed (`no_fix`, `too_few_sats`…); empty: accepted."
    )


class FixCounts(BaseModel):
    accepted: int
    rejected: dict[str, int] = Field(
        description="Fixes rejected, by reason (a fix failing two rules counts under both)."
    )


class DeviceFixes(BaseModel):
    device_id: int
    start: datetime
    end: datetime
    counts: FixCounts = Field(description="Every stored fix of the device in [start, end).")
    lines: dict[str, int] | None = Field(
        description="The device's NMEA sentences this server decoded since it started, by "
        "outcome (`accepted` or the rejection's reason: `checksum`…), whatever their time; "
        "null: this server runs no ingestion pipeline."
    )
    fixes: list[StoredFix]
    next_after_id: int | None = Field(description="Where the next page starts (null: last).")


@router.get("/devices/{device_id}/fixes", summary="A device's decoded fixes, with reasons")
def read_device_fixes(
    *,
    device_id: DeviceId,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    start: Annotated[
        AwareDatetime | None, Query(description="From (default: 24 hours before `end`).")
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(description="Until, exclusive (default: now).")
    ] = None,
    after_id: Annotated[
        int | None, Query(ge=0, description="Page on: `next_after_id` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TRACK)] = 1000,
) -> DeviceFixes:
    """Every fix stored from the device with a fix time in [start, end), in arrival order:
    accepted and rejected ones with their reasons, epochs without a position included — what
    the receiver said and what partymap made of it — and their counts by reason. Only fixes
    made while the device was carried by a member in the caller's scope (or by nobody).
    At most 31 days per request. Audited (``read_fixes``) for each member they reveal."""
    device = device_in_scope(session, user, device_id)
    end = end or datetime.now(UTC)
    start = start or end - timedelta(hours=24)
    if not start < end or end - start > MAX_TRACK_SPAN:
        raise InvalidValueError("give start < end, at most 31 days apart")
    carriers = _carriers_in_scope(
        session, user, device_id=device_id, current=device.member_id, start=start, end=end
    )
    in_order = sorted(carriers, key=lambda m: -1 if m is None else m)
    rows = list_positions(
        session,
        device_id=device_id,
        start=start,
        end=end,
        carriers=in_order,
        after_id=after_id,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    accepted, rejected = device_fix_counts(
        session, device_id=device_id, start=start, end=end, member_ids=in_order
    )
    fixes = [
        StoredFix(
            id=row.id,
            fix_time=row.fix.time,
            received_at=row.received_at,
            source=row.source,
            member_id=row.member_id,
            lat=row.fix.lat,
            lon=row.fix.lon,
            alt_m=row.fix.alt_m,
            quality=int(row.fix.quality),
            mode=int(row.fix.mode),
            hdop=row.fix.hdop,
            sats_used=row.fix.sats_used,
            accuracy_m=row.fix.accuracy_m,
            rejections=list(row.rejections),
        )
        for row in rows
    ]
    revealed = {m for m in carriers if m is not None}
    detail = {"device_id": device_id, "start": iso(start), "end": iso(end), "fixes": len(fixes)}
    audit_member_read(session, user, revealed, "read_fixes", detail)
    session.commit()
    sink = request.app.state.ingest
    return DeviceFixes(
        device_id=device_id,
        start=start,
        end=end,
        counts=FixCounts(accepted=accepted, rejected=rejected),
        lines=None if sink is None else sink.device_lines(device.uid),
        fixes=fixes,
        next_after_id=rows[-1].id if more else None,
    )


def _carriers_in_scope(
    session: Session,
    user: Principal,
    *,
    device_id: int,
    current: int | None,
    start: datetime,
    end: datetime,
) -> set[int | None]:
    """The device's carriers in the window whose fixes the caller may read: its current one
    (the device is in scope), nobody, and earlier carriers who are in scope too."""
    allowed: set[int | None] = {None, current}
    for member_id in device_carriers(session, device_id=device_id, start=start, end=end):
        if member_id in allowed or member_id is None:
            continue
        try:
            member_in_scope(session, user, member_id)
        except NotFoundError:
            continue
        allowed.add(member_id)
    return allowed
