"""Server-side clustering: grid cells of Web Mercator pixels, counts per category, lone points."""

from __future__ import annotations

import numpy as np
import pytest

from maps.aggregate import CELL_PX, POINTS_ZOOM, cluster, in_bbox, mercator_px, padded
from store.query import BBox


def test_mercator_pixels_match_leaflet() -> None:
    x, y = mercator_px(np.array([0.0, -180.0, 180.0]), np.array([0.0, 85.0511287, 0.0]), 0)
    assert x.tolist() == pytest.approx([128.0, 0.0, 256.0])
    assert y.tolist() == pytest.approx([128.0, 0.0, 128.0], abs=1e-6)
    # One zoom level more doubles every distance.
    x2, _ = mercator_px(np.array([114.3]), np.array([30.6]), 11)
    x1, _ = mercator_px(np.array([114.3]), np.array([30.6]), 10)
    assert x2[0] == pytest.approx(2 * x1[0])


def test_near_points_cluster_and_far_ones_stand_alone() -> None:
    # Three members in Wuhan a few metres apart, one in Beijing, one in Nairobi.
    lon = np.array([114.2655, 114.2656, 114.2657, 116.3975, 36.825])
    lat = np.array([30.6190, 30.6191, 30.6190, 39.9087, -1.32])
    state = np.array([4, 4, 3, 2, 1])
    grid = cluster(lon, lat, state, zoom=5, categories=5)
    assert len(grid.clusters) == 1
    (wuhan,) = grid.clusters
    assert wuhan.count == 3
    assert wuhan.by_category == (0, 0, 0, 1, 2)
    # Where they are, only to the grid's resolution: the cell's bounds, a snapped centre.
    cell_deg = 360.0 * CELL_PX / (256 * 2**5)
    assert wuhan.east - wuhan.west == pytest.approx(cell_deg)
    assert wuhan.west <= 114.2655 and wuhan.east >= 114.2657
    assert wuhan.south <= 30.619 and wuhan.north >= 30.6191
    assert wuhan.west <= wuhan.lon <= wuhan.east and wuhan.south <= wuhan.lat <= wuhan.north
    assert abs(wuhan.lon - 114.2656) < cell_deg / 4
    assert sorted(grid.points.tolist()) == [3, 4]


def test_a_cluster_reveals_no_single_position() -> None:
    """regression: a cluster's bounds were exactly its outermost members' positions (and the
    mean of two members at one spot is that spot)."""
    rng = np.random.default_rng(11)
    lon = np.concatenate([rng.uniform(114.0, 114.5, 400), np.full(2, 114.3)])
    lat = np.concatenate([rng.uniform(30.4, 30.8, 400), np.full(2, 30.6)])
    exact = set(np.round(lon, 6)) | set(np.round(lat, 6))
    for zoom in range(3, POINTS_ZOOM):
        grid = cluster(lon, lat, np.zeros(len(lon), int), zoom=zoom, categories=1)
        for c in grid.clusters:
            shown = {round(v, 6) for v in (c.lon, c.lat, c.west, c.south, c.east, c.north)}
            assert not shown & exact, (zoom, c)
        counted = sum(c.count for c in grid.clusters) + len(grid.points)
        assert counted == len(lon)


def test_every_point_alone_at_street_zoom_unless_too_many() -> None:
    lon = np.full(10, 114.2655) + np.arange(10) * 1e-6
    lat = np.full(10, 30.619)
    assert cluster(lon, lat, np.zeros(10, int), zoom=POINTS_ZOOM, categories=1).points.tolist() == (
        list(range(10))
    )
    crowded = cluster(lon, lat, np.zeros(10, int), zoom=POINTS_ZOOM, categories=1, max_points=5)
    assert [c.count for c in crowded.clusters] == [10]


def test_cells_do_not_depend_on_the_view() -> None:
    """The grid is anchored to the zoom level's pixel origin: panning keeps clusters put."""
    rng = np.random.default_rng(7)
    lon = rng.uniform(100, 120, 5000)
    lat = rng.uniform(20, 40, 5000)
    whole = cluster(lon, lat, np.zeros(5000, int), zoom=6, categories=1)
    east = lon > 110.0
    half = cluster(lon[east], lat[east], np.zeros(int(east.sum()), int), zoom=6, categories=1)
    # Cells wholly east of the cut have the same count and centre in both answers.
    inner = {(round(c.lon, 9), round(c.lat, 9), c.count) for c in whole.clusters if c.west > 111}
    assert inner and inner <= {(round(c.lon, 9), round(c.lat, 9), c.count) for c in half.clusters}


def test_a_country_zoom_sends_few_records_for_many_points() -> None:
    rng = np.random.default_rng(1)
    lon = rng.uniform(75, 130, 140_000)
    lat = rng.uniform(20, 45, 140_000)
    grid = cluster(lon, lat, rng.integers(0, 5, 140_000), zoom=4, categories=5)
    assert len(grid.clusters) + len(grid.points) < 600
    assert sum(c.count for c in grid.clusters) + len(grid.points) == 140_000


def test_empty_input() -> None:
    grid = cluster(np.array([]), np.array([]), np.array([], int), zoom=3, categories=2)
    assert grid.clusters == () and grid.points.tolist() == []


def test_bbox_filter_and_antimeridian() -> None:
    lon = np.array([179.5, -179.5, 0.0])
    lat = np.array([0.0, 0.0, 0.0])
    across = BBox(west=179.0, south=-1.0, east=-179.0, north=1.0)
    assert in_bbox(lon, lat, across).tolist() == [True, True, False]
    assert in_bbox(lon, lat, None).all()


def test_padding_grows_by_one_cell_and_stays_in_the_world() -> None:
    box = BBox(west=110.0, south=20.0, east=120.0, north=30.0)
    grown = padded(box, 4)
    degrees = 360.0 * CELL_PX / (256 * 2**4)
    assert grown.west == pytest.approx(110.0 - degrees)
    assert grown.north == pytest.approx(30.0 + degrees)
    world = padded(BBox(west=-180.0, south=-85.0, east=180.0, north=85.0), 2)
    assert (world.west, world.east, world.south, world.north) == (-180.0, 180.0, -90.0, 90.0)
