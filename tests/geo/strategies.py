"""Hypothesis strategies: small site sets around places at home and abroad, and fixes near them."""

from __future__ import annotations

import math

import numpy as np
import shapely
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.coords import LocalFrame
from geo.model import QualityThresholds, Site, SiteParams

# Wuhan; Nairobi (south of the equator); Dakar (west of Greenwich); Riyadh; 60° N.
PLACES = [
    (114.2655, 30.6190),
    (36.8250, -1.3200),
    (-17.4467, 14.6928),
    (46.6753, 24.7136),
    (10.75, 59.91),
]


def star(frame: LocalFrame, cx: float, cy: float, radii: list[float]) -> Polygon:
    n = len(radii)
    xy = [
        (cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n))
        for k, r in enumerate(radii)
    ]
    return Polygon([frame.to_lonlat(x, y) for x, y in xy])


@st.composite
def site_sets(draw: st.DrawFn) -> tuple[LocalFrame, list[Site]]:
    lon, lat = draw(st.sampled_from(PLACES))
    frame = LocalFrame.at(lon=lon, lat=lat)
    sites = []
    for i in range(draw(st.integers(1, 8))):
        cx, cy = draw(st.floats(-300, 300)), draw(st.floats(-300, 300))
        params = SiteParams(
            dwell_s=draw(st.sampled_from([0.0, 60.0, 120.0])),
            exit_after_s=draw(st.sampled_from([0.0, 30.0, 60.0])),
            max_gap_s=draw(st.sampled_from([30.0, 300.0])),
            hysteresis_m=draw(st.sampled_from([0.0, 5.0, 20.0])),
            accuracy_k=draw(st.sampled_from([1.0, 2.0, 3.0])),
            accuracy_cap_m=draw(st.sampled_from([5.0, 50.0])),
        )
        quality = QualityThresholds(
            min_sats=draw(st.sampled_from([4, 7])), max_hdop=draw(st.sampled_from([2.0, 5.0]))
        )
        kind = draw(st.sampled_from(["circle", "star", "holed", "multi"]))
        radii = draw(st.lists(st.floats(5, 250), min_size=3, max_size=12))
        if kind == "circle":
            geometry: Point | Polygon | MultiPolygon = Point(frame.to_lonlat(cx, cy))
        else:
            geometry = star(frame, cx, cy, radii)
            if kind == "holed" and min(radii) > 20:
                hole = star(frame, cx, cy, [min(radii) / 3] * 6)
                geometry = Polygon(geometry.exterior.coords, [hole.exterior.coords])
            elif kind == "multi":
                other = star(frame, cx + 600, cy, radii)
                geometry = MultiPolygon([geometry, other])
            if not geometry.is_valid:
                geometry = shapely.convex_hull(geometry)
        sites.append(
            Site(
                id=100 + i,
                org_id=1,
                name=f"s{i}",
                geometry=geometry,
                radius_m=radii[0] if kind == "circle" else None,
                params=params,
                quality=quality,
            )
        )
    return frame, sites


ACCURACIES = st.sampled_from([None, 0.0, 0.02, 1.5, 3.0, 8.0, 30.0, 200.0])


@st.composite
def points_near(
    draw: st.DrawFn, frame: LocalFrame, sites: list[Site], n: int
) -> list[tuple[float, float]]:
    """Points around the sites; some exactly on vertices and centres."""
    vertices = [
        c
        for s in sites
        for g in shapely.get_parts(s.geometry)
        for c in (g.exterior.coords if isinstance(g, Polygon) else g.coords)
    ]
    out = []
    for _ in range(n):
        if draw(st.booleans()) and vertices:
            out.append(tuple(draw(st.sampled_from(vertices))))
        else:
            x, y = draw(st.floats(-700, 1200)), draw(st.floats(-700, 700))
            out.append(frame.to_lonlat(x, y))
    return out


def as_arrays(points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    lon = np.array([p[0] for p in points], dtype=np.float64)
    lat = np.array([p[1] for p in points], dtype=np.float64)
    return lon, lat
