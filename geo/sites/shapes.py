"""A site compiled to a shape in its own metric frame, and the exact distance kernel.

Each site gets a :class:`~geo.coords.LocalFrame` (origin at its bounding-box centre, or a circle's
centre); its boundary becomes a list of straight edges in metres. The distance from a point to the
site is 0 when the site *covers* it (the boundary counts as inside), else the distance to the
nearest edge. :func:`distance_m` is the readable per-point reference; the batch path in
:mod:`geo.sites.membership` evaluates the very same float operations over arrays, so both give
bit-identical distances (tests compare them, and compare both with shapely's ``covers`` and
``distance``).

>>> from shapely import Point, box
>>> from geo.model import Site
>>> room = compile_site(Site(id=1, org_id=1, name="room", geometry=Point(114.3, 30.5), radius_m=15))
>>> round(distance_m(room, *room.frame.to_local(114.3, 30.5002)), 2)  # 22 m north of the centre
7.17
>>> yard = compile_site(Site(id=2, org_id=1, name="yard",
...                           geometry=box(114.3, 30.5, 114.301, 30.501)))
>>> distance_m(yard, *yard.frame.to_local(114.3005, 30.5005))
0.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geo.coords import LocalFrame
from geo.errors import SiteError
from geo.model import Site

# The local frame is a tangent-plane approximation: keep sites small and away from the poles.
MAX_SITE_EXTENT_M = 20_000.0
MAX_ABS_LAT = 85.0
# The fast paths (bounding-box reject, inscribed-circle accept) keep this far from the exact
# boundary, so rounding can never make them disagree with the exact kernel.
SAFETY_MARGIN_M = 1e-3

Edge = tuple[float, float, float, float, float, float]  # x1, y1, x2, y2, dx, dy


@dataclass(frozen=True, slots=True)
class SiteShape:
    """A site in metres of its own frame: a circle (``radius_m``) or polygon ``edges``."""

    frame: LocalFrame
    radius_m: float | None
    edges: tuple[Edge, ...]
    bbox: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in the local frame
    # An inscribed circle (cx, cy, r) with r already reduced by SAFETY_MARGIN_M; r ≤ 0: none.
    inner: tuple[float, float, float]


def _local(geometry: BaseGeometry, frame: LocalFrame) -> BaseGeometry:
    origin = np.array([frame.lon0, frame.lat0])
    scale = np.array([frame.kx, frame.ky])
    return shapely.transform(geometry, lambda xy: (xy - origin) * scale)


def _edges(local: Polygon | MultiPolygon) -> tuple[Edge, ...]:
    parts = local.geoms if isinstance(local, MultiPolygon) else [local]
    edges: list[Edge] = []
    for part in parts:
        for ring in [part.exterior, *part.interiors]:
            xy = np.asarray(ring.coords)
            for (x1, y1), (x2, y2) in zip(xy[:-1].tolist(), xy[1:].tolist(), strict=True):
                dx, dy = x2 - x1, y2 - y1
                if dx * dx + dy * dy > 0.0:  # repeated vertices make no edge
                    edges.append((x1, y1, x2, y2, dx, dy))
    return tuple(edges)


def _check(site: Site) -> None:
    g = site.geometry
    where = f"site {site.id} {site.name!r}"
    if g is None or g.is_empty:
        raise SiteError(f"{where}: empty geometry")
    if isinstance(g, Point):
        if site.radius_m is None or not site.radius_m > 0:
            raise SiteError(f"{where}: a point site needs radius_m > 0 (got {site.radius_m})")
    elif isinstance(g, Polygon | MultiPolygon):
        if site.radius_m is not None:
            raise SiteError(f"{where}: radius_m is only for point (circle) sites")
        if not g.is_valid:
            raise SiteError(f"{where}: invalid geometry: {shapely.is_valid_reason(g)}")
    else:
        raise SiteError(f"{where}: unsupported geometry type {g.geom_type}")
    lon_min, lat_min, lon_max, lat_max = g.bounds
    if not (
        lon_min >= -180 and lon_max <= 180 and lat_min >= -MAX_ABS_LAT and lat_max <= MAX_ABS_LAT
    ):
        raise SiteError(f"{where}: coordinates outside lon ±180 / lat ±{MAX_ABS_LAT}: {g.bounds}")


def compile_site(site: Site) -> SiteShape:
    """Validate ``site`` and express it in metres around its own origin."""
    _check(site)
    g = site.geometry
    lon_min, lat_min, lon_max, lat_max = g.bounds
    frame = LocalFrame.at(lon=(lon_min + lon_max) / 2, lat=(lat_min + lat_max) / 2)
    if isinstance(g, Point):
        r = float(site.radius_m or 0.0)
        if 2 * r > MAX_SITE_EXTENT_M:
            raise SiteError(f"site {site.id} {site.name!r}: radius {r} m is too large")
        return SiteShape(frame, r, (), (-r, -r, r, r), (0.0, 0.0, r - SAFETY_MARGIN_M))
    local = _local(g, frame)
    xmin, ymin, xmax, ymax = (float(v) for v in local.bounds)
    if max(xmax - xmin, ymax - ymin) > MAX_SITE_EXTENT_M:
        raise SiteError(f"site {site.id} {site.name!r}: wider than {MAX_SITE_EXTENT_M:.0f} m")
    assert isinstance(local, Polygon | MultiPolygon)
    mic = shapely.maximum_inscribed_circle(local)
    (cx, cy), (bx, by) = mic.coords
    inner = (cx, cy, math.hypot(bx - cx, by - cy) - SAFETY_MARGIN_M)
    return SiteShape(frame, None, _edges(local), (xmin, ymin, xmax, ymax), inner)


def polygon_distance_m(edges: tuple[Edge, ...], x: float, y: float) -> float:
    """0 if the edges' polygon covers (x, y), else the distance to the nearest edge.

    Inside-ness is the even-odd rule along a ray towards +x (every ring of every part counts);
    a point on the boundary may fall either way, but its edge distance is then 0 as well.
    """
    inside = False
    best = math.inf
    for x1, y1, _x2, y2, dx, dy in edges:
        wx, wy = x - x1, y - y1
        if (y1 > y) != (y2 > y) and ((wy * dx - wx * dy > 0.0) == (dy > 0.0)):
            inside = not inside
        t = (wx * dx + wy * dy) / (dx * dx + dy * dy)
        t = min(max(t, 0.0), 1.0)
        qx, qy = wx - t * dx, wy - t * dy
        best = min(best, qx * qx + qy * qy)
    return 0.0 if inside else math.sqrt(best)


def distance_m(shape: SiteShape, x: float, y: float) -> float:
    """Distance in metres from local point (x, y) to the site; 0 when the site covers it."""
    if shape.radius_m is not None:
        return max(math.sqrt(x * x + y * y) - shape.radius_m, 0.0)
    return polygon_distance_m(shape.edges, x, y)
