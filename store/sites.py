"""Sites (branch offices, meeting rooms, worksites) stored as WGS 84 geometry, read as
:class:`geo.model.Site` values.

Every change bumps the ``site_set`` counter: the geo engine rebuilds its spatial index once per
version of the site set (:func:`load_site_set`) instead of polling the table.
"""

from __future__ import annotations

import dataclasses
import math
import zoneinfo
from dataclasses import dataclass
from typing import Any, TypeVar

import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from geo.model import QualityThresholds, Site, SiteKind, SiteParams
from store.errors import InvalidValueError, NotFoundError
from store.models import Counter, SiteRow
from store.orgs import get_organisation, org_scope
from store.query import BBox, bounds_intersect_bbox, matching, page
from store.types import SRID, utcnow

SITE_SET = "site_set"
_P = TypeVar("_P", SiteParams, QualityThresholds)
# Metres per degree of latitude at its smallest (the equator): bounds err on the large side.
_M_PER_DEG = 110_574.0


@dataclass(frozen=True, slots=True)
class SiteSet:
    """Every live site, as of one version of the set."""

    version: int
    sites: tuple[Site, ...]


def create_site(
    session: Session,
    *,
    org_id: int,
    name: str,
    geometry: BaseGeometry,
    radius_m: float | None = None,
    kind: SiteKind = SiteKind.OFFICE,
    tz: str = "Asia/Shanghai",
    params: SiteParams | None = None,
    quality: QualityThresholds | None = None,
) -> Site:
    """Store a polygon/multipolygon site, or a circle given as its centre Point + ``radius_m``."""
    get_organisation(session, org_id=org_id)
    row = SiteRow(
        org_id=org_id,
        name=name,
        kind=kind,
        tz=_check_tz(tz),
        params=dataclasses.asdict(params or SiteParams()),
        quality=dataclasses.asdict(quality or QualityThresholds()),
        version=1,
    )
    _set_shape(row, geometry, radius_m)
    session.add(row)
    session.flush()
    _bump_site_set(session)
    return get_site(session, site_id=row.id)


def get_site(session: Session, *, site_id: int) -> Site:
    sites = _read_sites(session, _live().where(SiteRow.id == site_id))
    if not sites:
        raise NotFoundError("site", site_id)
    return sites[0]


def find_site(session: Session, *, org_id: int, name: str) -> Site | None:
    """The live site of ``org_id`` called ``name`` (the key a site file is re-imported by)."""
    stmt = _live().where(SiteRow.org_id == org_id, SiteRow.name == name).order_by(SiteRow.id)
    found = _read_sites(session, stmt.limit(1))
    return found[0] if found else None


def list_sites(
    session: Session,
    *,
    within_org_id: int | None = None,
    org_id: int | None = None,
    bbox: BBox | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Site]:
    """Live sites, ordered by id, filtered by subtree, organisation and overlap with ``bbox``.

    A site overlaps the box when its footprint's bounds do (a circle's include its radius).
    """
    stmt = _live().where(*matching((SiteRow.org_id, org_id)))
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, SiteRow.org_id, within_org_id=within_org_id))
    if bbox is not None:
        stmt = stmt.where(
            bounds_intersect_bbox(
                SiteRow.min_lon, SiteRow.min_lat, SiteRow.max_lon, SiteRow.max_lat, bbox
            )
        )
    return _read_sites(session, page(stmt.order_by(SiteRow.id), limit=limit, offset=offset))


def update_site(
    session: Session,
    *,
    site_id: int,
    org_id: int | None = None,
    name: str | None = None,
    geometry: BaseGeometry | None = None,
    radius_m: float | None = None,
    kind: SiteKind | None = None,
    tz: str | None = None,
    params: SiteParams | None = None,
    quality: QualityThresholds | None = None,
) -> Site:
    """Change the given fields; None leaves a field as it is. A new ``geometry`` takes
    ``radius_m`` with it (a circle needs one, a polygon none)."""
    row = _live_row(session, site_id)
    if org_id is not None:
        get_organisation(session, org_id=org_id)
        row.org_id = org_id
    if geometry is not None:
        _set_shape(row, geometry, radius_m)
    elif radius_m is not None:
        _set_shape(row, _shape_of(session, row), radius_m)
    if name is not None:
        row.name = name
    if kind is not None:
        row.kind = kind
    if tz is not None:
        row.tz = _check_tz(tz)
    if params is not None:
        row.params = dataclasses.asdict(params)
    if quality is not None:
        row.quality = dataclasses.asdict(quality)
    row.version += 1
    row.updated_at = utcnow()
    session.flush()
    _bump_site_set(session)
    return get_site(session, site_id=site_id)


def delete_site(session: Session, *, site_id: int) -> None:
    """Retire a site: it leaves the site set but stays for the visits and meetings naming it."""
    row = _live_row(session, site_id)
    row.deleted_at = utcnow()
    row.version += 1
    session.flush()
    _bump_site_set(session)


def site_set_version(session: Session) -> int:
    """The version of the whole set of sites: it changes whenever any site does."""
    return int(session.scalar(select(Counter.value).where(Counter.name == SITE_SET)) or 0)


def load_site_set(session: Session) -> SiteSet:
    """All live sites with the version they belong to (read in one transaction)."""
    version = site_set_version(session)
    return SiteSet(version=version, sites=tuple(_read_sites(session, _live().order_by(SiteRow.id))))


def _live() -> Select[Any]:
    return select(
        SiteRow.id,
        SiteRow.org_id,
        SiteRow.name,
        SiteRow.geom,
        SiteRow.radius_m,
        SiteRow.kind,
        SiteRow.tz,
        SiteRow.params,
        SiteRow.quality,
    ).where(SiteRow.deleted_at.is_(None))


def _read_sites(session: Session, stmt: Select[Any]) -> list[Site]:
    rows = session.execute(stmt).all()
    # One vectorised decode for the whole result instead of one call per site. PostGIS hands
    # back EWKB bytes, SpatiaLite's AsEWKB hex text: shapely reads both.
    shapes = shapely.from_wkb([_wkb(r.geom.data) for r in rows]) if rows else []
    return [
        Site(
            id=r.id,
            org_id=r.org_id,
            name=r.name,
            geometry=shape,
            radius_m=r.radius_m,
            kind=r.kind,
            tz=r.tz,
            params=_from_dict(SiteParams, r.params),
            quality=_from_dict(QualityThresholds, r.quality),
        )
        for r, shape in zip(rows, shapes, strict=True)
    ]


def _wkb(data: str | bytes | memoryview) -> str | bytes:
    return data if isinstance(data, str) else bytes(data)


def _from_dict(cls: type[_P], values: dict[str, Any]) -> _P:
    # Rows written by an older version may lack newer fields (they take the default) and keep
    # fields a newer version dropped (ignored).
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def _live_row(session: Session, site_id: int) -> SiteRow:
    row = session.get(SiteRow, site_id)
    if row is None or row.deleted_at is not None:
        raise NotFoundError("site", site_id)
    return row


def _shape_of(session: Session, row: SiteRow) -> BaseGeometry:
    return get_site(session, site_id=row.id).geometry


def _set_shape(row: SiteRow, geometry: BaseGeometry, radius_m: float | None) -> None:
    _check_shape(geometry, radius_m)
    if isinstance(geometry, Point):
        assert radius_m is not None
        dlat = radius_m / _M_PER_DEG
        # Near the poles a degree of longitude shrinks to nothing: cap the widening at 180°.
        dlon = min(180.0, radius_m / (_M_PER_DEG * max(math.cos(math.radians(geometry.y)), 1e-6)))
        bounds = (geometry.x - dlon, geometry.y - dlat, geometry.x + dlon, geometry.y + dlat)
    else:
        bounds = geometry.bounds
    row.min_lon, row.min_lat, row.max_lon, row.max_lat = bounds
    row.geom = from_shape(geometry, srid=SRID)
    row.radius_m = radius_m


def _check_shape(geometry: BaseGeometry, radius_m: float | None) -> None:
    if isinstance(geometry, Point):
        if radius_m is None or not radius_m > 0 or not math.isfinite(radius_m):
            raise InvalidValueError("a circular site needs a positive radius_m")
    elif isinstance(geometry, Polygon | MultiPolygon):
        if radius_m is not None:
            raise InvalidValueError("radius_m is for circular sites (a Point) only")
        if not geometry.is_valid:
            raise InvalidValueError(f"invalid site geometry: {shapely.is_valid_reason(geometry)}")
    else:
        raise InvalidValueError(
            "a site is a Polygon, a MultiPolygon or a Point with radius_m, "
            f"not {geometry.geom_type}"
        )
    if geometry.is_empty or geometry.has_z:
        raise InvalidValueError("site geometry must be non-empty and two-dimensional")
    west, south, east, north = geometry.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidValueError(
            f"site coordinates out of range {geometry.bounds}: give lon/lat degrees (WGS 84)"
        )


def _check_tz(tz: str) -> str:
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidValueError(f"unknown IANA time zone {tz!r}") from exc
    return tz


def _bump_site_set(session: Session) -> None:
    session.execute(update(Counter).where(Counter.name == SITE_SET).values(value=Counter.value + 1))
