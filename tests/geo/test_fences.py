"""Membership: the kernel against shapely, accuracy margins, and batch == reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Point, Polygon

from geo.coords import LocalFrame
from geo.errors import SiteError
from geo.model import Site, SiteParams
from geo.sites.membership import SiteIndex, tolerances
from geo.sites.shapes import compile_site, distance_m
from tests.geo.strategies import ACCURACIES, as_arrays, points_near, site_sets

GEOD = Geod(ellps="WGS84")


def local_geometry(site: Site, frame: LocalFrame) -> shapely.Geometry:
    origin, scale = np.array([frame.lon0, frame.lat0]), np.array([frame.kx, frame.ky])
    return shapely.transform(site.geometry, lambda xy: (xy - origin) * scale)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_kernel_agrees_with_shapely_covers_and_distance(data: st.DataObject) -> None:
    frame, sites = data.draw(site_sets())
    points = data.draw(points_near(frame, sites, 40))
    for site in sites:
        shape = compile_site(site)
        geometry = local_geometry(site, shape.frame)
        for lon, lat in points:
            x, y = shape.frame.to_local(lon, lat)
            d = distance_m(shape, x, y)
            if shape.radius_m is None:
                expected = shapely.distance(geometry, Point(x, y))
                assert d == pytest.approx(expected, abs=1e-6)
                if not shapely.dwithin(geometry.boundary, Point(x, y), 1e-6):
                    assert (d == 0.0) == bool(shapely.covers(geometry, Point(x, y)))
            else:
                assert d == pytest.approx(max(math.hypot(x, y) - shape.radius_m, 0.0), abs=1e-9)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_batch_memberships_equal_the_per_fix_reference(data: st.DataObject) -> None:
    frame, sites = data.draw(site_sets())
    index = SiteIndex.build(sites, cell_deg=data.draw(st.sampled_from([0.0005, 0.0025, 0.01])))
    points = data.draw(points_near(frame, sites, data.draw(st.integers(1, 60))))
    accuracy = [data.draw(ACCURACIES) for _ in points]
    lon, lat = as_arrays(points)
    lat[:: max(len(points) // 3, 1)] = np.nan if data.draw(st.booleans()) else lat[0]
    acc = np.array([np.nan if a is None else a for a in accuracy])
    batch = index.memberships(lat, lon, acc).rows()
    reference = [
        (i, m)
        for i in range(len(points))
        for m in index.memberships_of(float(lat[i]), float(lon[i]), accuracy[i])
    ]
    assert batch == reference


def test_circle_distances_follow_the_geodesic_at_home_and_abroad() -> None:
    for lon, lat in [(114.2655, 30.6190), (36.825, -1.32), (-17.4467, 14.6928), (10.75, 59.91)]:
        index = SiteIndex.build(
            [Site(id=1, org_id=1, name="c", geometry=Point(lon, lat), radius_m=100.0)]
        )
        for bearing in (0, 45, 90, 200):
            lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, 160.0)
            (m,) = index.memberships_of(lat2, lon2, 30.0)
            assert m.distance_m == pytest.approx(60.0, abs=0.05)


def test_accuracy_margin_and_hysteresis_bands() -> None:
    frame = LocalFrame.at(lon=114.3, lat=30.5)
    site = Site(
        id=1,
        org_id=1,
        name="room",
        geometry=Point(frame.lon0, frame.lat0),
        radius_m=15.0,
        params=SiteParams(accuracy_k=2.0, accuracy_cap_m=50.0, hysteresis_m=20.0),
    )
    index = SiteIndex.build([site])

    def evidence(distance_from_wall: float, accuracy: float | None) -> str:
        lon, lat = frame.to_lonlat(15.0 + distance_from_wall, 0.0)
        found = index.memberships_of(lat, lon, accuracy)
        return "outside" if not found else ("inside" if found[0].inside else "between")

    assert evidence(0.0, 0.0) == "inside"  # the boundary is inside (covers)
    assert evidence(5.9, 3.0) == "inside"  # within 2σ = 6 m
    assert evidence(6.1, 3.0) == "between"
    assert evidence(25.9, 3.0) == "between"  # 6 m + 20 m hysteresis
    assert evidence(26.1, 3.0) == "outside"
    assert evidence(49.9, 100.0) == "inside"  # tolerance capped at 50 m
    assert evidence(50.1, 100.0) == "between"
    assert evidence(0.5, None) == "between"  # unknown accuracy: no tolerance…
    assert evidence(70.1, None) == "outside"  # …and the widest outside threshold
    assert tolerances(float("nan"), 2.0, 50.0, 20.0) == (0.0, 70.0)


def test_holes_and_multipolygons() -> None:
    frame = LocalFrame.at(lon=36.825, lat=-1.32)
    ring = [frame.to_lonlat(x, y) for x, y in [(-100, -100), (100, -100), (100, 100), (-100, 100)]]
    hole = [frame.to_lonlat(x, y) for x, y in [(-40, -40), (40, -40), (40, 40), (-40, 40)]]
    far = [frame.to_lonlat(x, y) for x, y in [(300, 0), (340, 0), (340, 40), (300, 40)]]
    site = Site(
        id=1,
        org_id=1,
        name="camp",
        geometry=shapely.MultiPolygon([Polygon(ring, [hole]), Polygon(far)]),
    )
    index = SiteIndex.build([site])
    points = [(0, 0), (30, 0), (70, 0), (320, 20), (200, 0)]
    lon, lat = as_arrays([frame.to_lonlat(*p) for p in points])
    m = index.memberships(lat, lon, np.full(len(points), 0.02))
    # The hole's centre is 40 m from its edge: outside; 10 m into the hole: between.
    assert m.fix.tolist() == [1, 2, 3] and m.inside.tolist() == [False, True, True]
    assert m.distance_m[0] == pytest.approx(10.0, abs=1e-6)


@pytest.mark.parametrize(
    ("site", "reason"),
    [
        (Site(id=1, org_id=1, name="p", geometry=Point(114.3, 30.5)), "radius_m > 0"),
        (
            Site(id=1, org_id=1, name="b", geometry=Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])),
            "Self-intersection",
        ),
        (
            Site(id=1, org_id=1, name="l", geometry=shapely.LineString([(0, 0), (1, 1)])),
            "unsupported geometry",
        ),
        (Site(id=1, org_id=1, name="w", geometry=shapely.box(100, 30, 101, 31)), "wider than"),
        (Site(id=1, org_id=1, name="n", geometry=Point(0, 89.5), radius_m=5.0), "outside lon"),
    ],
)
def test_unusable_sites_are_refused_with_a_reason(site: Site, reason: str) -> None:
    with pytest.raises(SiteError, match=reason):
        SiteIndex.build([site])


def test_duplicate_site_ids_are_refused() -> None:
    site = Site(id=1, org_id=1, name="c", geometry=Point(114.3, 30.5), radius_m=5.0)
    with pytest.raises(SiteError, match="unique"):
        SiteIndex.build([site, site])


def test_an_empty_site_set_covers_nothing() -> None:
    # A new installation has no sites yet: the pipeline still builds an index for it.
    index = SiteIndex.build([])
    found = index.memberships(np.array([30.5]), np.array([114.3]), np.array([3.0]))
    assert (len(index), found.fix.tolist(), index.memberships_of(30.5, 114.3, 3.0)) == (0, [], ())
