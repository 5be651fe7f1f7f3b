"""Server-side clustering for the map: a grid over Web Mercator pixels at the requested zoom.

At country zoom 140,000 members fall into a few hundred grid cells; the browser gets one small
record per cell (where, how many, how many in each state) instead of one marker per member.
Cells holding a single point, and every point once the map is zoomed in far enough, come back
as points. The grid is aligned to the pixel origin of the zoom level, so panning never makes
clusters jump: a cell is the same cell in every request at that zoom.

>>> import numpy as np
>>> lon = np.array([114.30, 114.3001, 116.40])
>>> lat = np.array([30.50, 30.5001, 39.90])
>>> grid = cluster(lon, lat, np.array([2, 0, 1]), zoom=5, categories=3)
>>> [(c.count, c.by_category) for c in grid.clusters], grid.points.tolist()
([(2, (1, 0, 1))], [2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from store.query import BBox

TILE_PX = 256
# Web Mercator stops at ±85.05113°, where it reaches a square world.
MAX_MERCATOR_LAT = 85.05112878
# Cells of this many pixels: a cluster bubble is about half as wide.
CELL_PX = 60
# From this zoom (street level, ~2 m per pixel) every point is drawn on its own.
POINTS_ZOOM = 17


@dataclass(frozen=True, slots=True)
class Cluster:
    lon: float  # mean position of its points
    lat: float
    count: int
    by_category: tuple[int, ...]  # how many points of each category (state, site kind…)
    west: float  # bounds of its points: a click zooms there
    south: float
    east: float
    north: float


@dataclass(frozen=True, slots=True)
class Grid:
    """Clusters of two or more points, and the indexes of the points drawn on their own."""

    clusters: tuple[Cluster, ...]
    points: npt.NDArray[np.intp]


def mercator_px(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], zoom: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Global pixel coordinates of lon/lat at ``zoom`` (the ones Leaflet's EPSG:3857 uses)."""
    size = TILE_PX * 2.0**zoom
    phi = np.radians(np.clip(lat, -MAX_MERCATOR_LAT, MAX_MERCATOR_LAT))
    x = (np.asarray(lon) + 180.0) / 360.0 * size
    y = (1.0 - np.log(np.tan(phi) + 1.0 / np.cos(phi)) / math.pi) / 2.0 * size
    return x, y


def in_bbox(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], bbox: BBox | None
) -> npt.NDArray[np.bool_]:
    """Which points fall inside ``bbox`` (edges included; ``west > east`` crosses 180°)."""
    if bbox is None:
        return np.ones(len(lon), dtype=bool)
    inside = (lat >= bbox.south) & (lat <= bbox.north)
    if bbox.west <= bbox.east:
        return inside & (lon >= bbox.west) & (lon <= bbox.east)
    return inside & ((lon >= bbox.west) | (lon <= bbox.east))


def cluster(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    category: npt.NDArray[np.integer],
    *,
    zoom: int,
    categories: int,
    cell_px: int = CELL_PX,
    max_points: int = 2000,
) -> Grid:
    """Group points by grid cell at ``zoom``; lone points (and all at ``POINTS_ZOOM`` and
    beyond, up to ``max_points``) are returned as indexes into the input."""
    n = len(lon)
    if n == 0:
        return Grid((), np.empty(0, dtype=np.intp))
    if zoom >= POINTS_ZOOM and n <= max_points:
        return Grid((), np.arange(n, dtype=np.intp))
    x, y = mercator_px(lon, lat, zoom)
    cells_per_row = int(TILE_PX * 2**zoom // cell_px) + 1
    key = (y // cell_px).astype(np.int64) * cells_per_row + (x // cell_px).astype(np.int64)
    cells, cell_of, counts = np.unique(key, return_inverse=True, return_counts=True)
    lone = counts[cell_of] == 1
    many = np.flatnonzero(counts > 1)
    if len(many) == 0:
        return Grid((), np.flatnonzero(lone))
    sum_lon = np.bincount(cell_of, weights=lon, minlength=len(cells))
    sum_lat = np.bincount(cell_of, weights=lat, minlength=len(cells))
    per_category = np.bincount(
        cell_of * categories + np.asarray(category, dtype=np.int64),
        minlength=len(cells) * categories,
    ).reshape(len(cells), categories)
    west = np.full(len(cells), np.inf)
    south = np.full(len(cells), np.inf)
    east = np.full(len(cells), -np.inf)
    north = np.full(len(cells), -np.inf)
    np.minimum.at(west, cell_of, lon)
    np.minimum.at(south, cell_of, lat)
    np.maximum.at(east, cell_of, lon)
    np.maximum.at(north, cell_of, lat)
    clusters = tuple(
        Cluster(
            lon=float(sum_lon[c] / counts[c]),
            lat=float(sum_lat[c] / counts[c]),
            count=int(counts[c]),
            by_category=tuple(int(v) for v in per_category[c]),
            west=float(west[c]),
            south=float(south[c]),
            east=float(east[c]),
            north=float(north[c]),
        )
        for c in many
    )
    return Grid(clusters, np.flatnonzero(lone))


def padded(bbox: BBox, zoom: int, cell_px: int = CELL_PX) -> BBox:
    """``bbox`` grown by one grid cell on every side (clamped to the world), so that clusters
    at the edge of the view count their points just outside it too."""
    degrees = 360.0 * cell_px / (TILE_PX * 2.0**zoom)
    if bbox.west <= bbox.east and bbox.east - bbox.west + 2 * degrees >= 360.0:
        west, east = -180.0, 180.0
    else:
        west = max(-180.0, bbox.west - degrees) if bbox.west <= bbox.east else bbox.west
        east = min(180.0, bbox.east + degrees) if bbox.west <= bbox.east else bbox.east
    return BBox(
        west=west,
        south=max(-90.0, bbox.south - degrees),
        east=east,
        north=min(90.0, bbox.north + degrees),
    )
