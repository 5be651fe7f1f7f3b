"""Server-side clustering for the map: a grid over Web Mercator pixels at the requested zoom.

At country zoom 140,000 members fall into a few hundred grid cells; the browser gets one small
record per cell (where, how many, how many in each state) instead of one marker per member.
A cluster says where its points are only to the grid's resolution (see :class:`Cluster`).
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
    """A grid cell holding two or more points. It tells where they are only to the zoom's
    resolution: ``lon``/``lat`` is their mean position snapped to the centre of a quarter
    cell (15 px at that zoom), and the bounds are the cell's own. Points are members' positions, so
    no single one may be read back from a cluster (drawn one by one, they are audited)."""

    lon: float
    lat: float
    count: int
    by_category: tuple[int, ...]  # how many points of each category (state, site kind…)
    west: float  # the cell's bounds: a click zooms there
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


def mercator_lonlat(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], zoom: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Longitude and latitude of global pixel coordinates at ``zoom`` (:func:`mercator_px`
    inverted)."""
    size = TILE_PX * 2.0**zoom
    lon = np.asarray(x) / size * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(math.pi * (1.0 - 2.0 * np.asarray(y) / size))))
    return lon, lat


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
    column, row = (x // cell_px).astype(np.int64), (y // cell_px).astype(np.int64)
    key = row * cells_per_row + column
    cells, cell_of, counts = np.unique(key, return_inverse=True, return_counts=True)
    lone = counts[cell_of] == 1
    many = np.flatnonzero(counts > 1)
    if len(many) == 0:
        return Grid((), np.flatnonzero(lone))
    # The mean in pixels, snapped to a quarter cell; the cell's corners; all in lon/lat.
    snap = cell_px / 4
    mean_x = np.bincount(cell_of, weights=x, minlength=len(cells))[many] / counts[many]
    mean_y = np.bincount(cell_of, weights=y, minlength=len(cells))[many] / counts[many]
    at_lon, at_lat = mercator_lonlat(
        (np.floor(mean_x / snap) + 0.5) * snap, (np.floor(mean_y / snap) + 0.5) * snap, zoom
    )
    left, top = (cells[many] % cells_per_row) * cell_px, (cells[many] // cells_per_row) * cell_px
    west, north = mercator_lonlat(left, top, zoom)
    east, south = mercator_lonlat(left + cell_px, top + cell_px, zoom)
    per_category = np.bincount(
        cell_of * categories + np.asarray(category, dtype=np.int64),
        minlength=len(cells) * categories,
    ).reshape(len(cells), categories)
    clusters = tuple(
        Cluster(
            lon=float(at_lon[i]),
            lat=float(at_lat[i]),
            count=int(counts[c]),
            by_category=tuple(int(v) for v in per_category[c]),
            west=float(west[i]),
            south=float(max(south[i], -MAX_MERCATOR_LAT)),
            east=float(min(east[i], 180.0)),
            north=float(min(north[i], MAX_MERCATOR_LAT)),
        )
        for i, c in enumerate(many)
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
