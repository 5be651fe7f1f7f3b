"""Sites: geometry round trips, validation, bbox queries and the site-set version."""

from __future__ import annotations

import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from sqlalchemy.orm import Session

from geo.model import QualityThresholds, SiteKind, SiteParams
from store import sites
from store.errors import InvalidValueError, NotFoundError
from store.query import BBox
from tests.store.helpers import tree

OFFICE = box(114.300, 30.500, 114.302, 30.502)


def test_polygon_and_circle_round_trip(db: Session) -> None:
    t = tree(db)
    params = SiteParams(dwell_s=60.0, hysteresis_m=10.0)
    quality = QualityThresholds(min_sats=5, max_hdop=3.0)
    office = sites.create_site(
        db,
        org_id=t.branch_a.id,
        name="支部活动室",
        geometry=OFFICE,
        kind=SiteKind.MEETING_ROOM,
        tz="Asia/Shanghai",
        params=params,
        quality=quality,
    )
    camp = sites.create_site(
        db,
        org_id=t.branch_b.id,
        name="Nairobi camp",
        geometry=Point(36.82, -1.29),
        radius_m=300.0,
        kind=SiteKind.PROJECT_WORKSITE,
        tz="Africa/Nairobi",
    )
    db.commit()
    got = sites.get_site(db, site_id=office.id)
    assert got.geometry.equals(OFFICE)
    assert (got.name, got.kind, got.tz, got.params, got.quality, got.radius_m) == (
        "支部活动室",
        SiteKind.MEETING_ROOM,
        "Asia/Shanghai",
        params,
        quality,
        None,
    )
    got_camp = sites.get_site(db, site_id=camp.id)
    assert got_camp.geometry.equals(Point(36.82, -1.29))
    assert (got_camp.radius_m, got_camp.params, got_camp.tz) == (
        300.0,
        SiteParams(),
        "Africa/Nairobi",
    )


def test_multipolygons_are_kept(db: Session) -> None:
    t = tree(db)
    two = MultiPolygon([OFFICE, box(114.31, 30.51, 114.32, 30.52)])
    site = sites.create_site(db, org_id=t.branch_a.id, name="两处", geometry=two)
    assert sites.get_site(db, site_id=site.id).geometry.equals(two)


@pytest.mark.parametrize(
    ("geometry", "radius_m", "tz"),
    [
        (Point(114.3, 30.5), None, "Asia/Shanghai"),  # a circle needs its radius
        (Point(114.3, 30.5), -5.0, "Asia/Shanghai"),
        (OFFICE, 50.0, "Asia/Shanghai"),  # a polygon has none
        (Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), None, "Asia/Shanghai"),  # self-crossing
        (LineString([(0, 0), (1, 1)]), None, "Asia/Shanghai"),
        (box(3_400_000, 500_000, 3_400_100, 500_100), None, "Asia/Shanghai"),  # metres, not lon/lat
        (OFFICE, None, "Asia/Beijing"),  # not an IANA zone
    ],
)
def test_sites_that_cannot_be_stored_are_refused(
    db: Session, geometry: object, radius_m: float | None, tz: str
) -> None:
    t = tree(db)
    with pytest.raises(InvalidValueError):
        sites.create_site(
            db, org_id=t.branch_a.id, name="x", geometry=geometry, radius_m=radius_m, tz=tz
        )


def test_bbox_finds_polygons_and_circles_by_their_footprint(db: Session) -> None:
    t = tree(db)
    office = sites.create_site(db, org_id=t.branch_a.id, name="office", geometry=OFFICE)
    # The centre lies 0.003° (≈ 330 m) east of the box below; a 500 m radius reaches into it.
    camp = sites.create_site(
        db, org_id=t.branch_a.id, name="camp", geometry=Point(114.313, 30.5), radius_m=500.0
    )
    near = BBox(west=114.305, south=30.495, east=114.310, north=30.505)
    assert [s.id for s in sites.list_sites(db, bbox=near)] == [camp.id]
    both = BBox(west=114.2, south=30.4, east=114.4, north=30.6)
    assert [s.id for s in sites.list_sites(db, bbox=both)] == [office.id, camp.id]
    assert sites.list_sites(db, bbox=BBox(west=115.0, south=30.0, east=116.0, north=31.0)) == []


def test_bbox_across_the_antimeridian(db: Session) -> None:
    t = tree(db)
    fiji = sites.create_site(
        db, org_id=t.branch_a.id, name="Suva", geometry=Point(178.44, -18.14), radius_m=200.0
    )
    sites.create_site(db, org_id=t.branch_a.id, name="office", geometry=OFFICE)
    pacific = BBox(west=170.0, south=-25.0, east=-170.0, north=-10.0)
    assert [s.id for s in sites.list_sites(db, bbox=pacific)] == [fiji.id]


def test_lists_filter_by_subtree_and_organisation(db: Session) -> None:
    t = tree(db)
    a = sites.create_site(db, org_id=t.branch_a.id, name="a", geometry=OFFICE)
    b = sites.create_site(db, org_id=t.branch_b.id, name="b", geometry=OFFICE)
    c = sites.create_site(db, org_id=t.branch_c.id, name="c", geometry=OFFICE)
    assert [s.id for s in sites.list_sites(db, within_org_id=t.committee.id)] == [a.id, b.id]
    assert [s.id for s in sites.list_sites(db, org_id=t.branch_c.id)] == [c.id]
    assert [s.id for s in sites.list_sites(db, limit=1, offset=1)] == [b.id]


def test_every_change_moves_the_site_set_version(db: Session) -> None:
    t = tree(db)
    v0 = sites.site_set_version(db)
    site = sites.create_site(db, org_id=t.branch_a.id, name="a", geometry=OFFICE)
    v1 = sites.site_set_version(db)
    updated = sites.update_site(
        db, site_id=site.id, geometry=Point(114.3, 30.5), radius_m=80.0, name="renamed"
    )
    v2 = sites.site_set_version(db)
    assert v0 < v1 < v2
    assert (updated.name, updated.radius_m) == ("renamed", 80.0)
    assert sites.update_site(db, site_id=site.id, radius_m=120.0).radius_m == 120.0
    snapshot = sites.load_site_set(db)
    assert snapshot.version == sites.site_set_version(db)
    assert [s.id for s in snapshot.sites] == [site.id]
    sites.delete_site(db, site_id=site.id)
    assert sites.site_set_version(db) > snapshot.version
    assert sites.load_site_set(db).sites == ()
    with pytest.raises(NotFoundError):
        sites.get_site(db, site_id=site.id)
    with pytest.raises(NotFoundError):
        sites.update_site(db, site_id=site.id, name="ghost")


def test_a_rolled_back_change_leaves_the_version(db: Session) -> None:
    t = tree(db)
    db.commit()
    before = sites.site_set_version(db)
    sites.create_site(db, org_id=t.branch_a.id, name="a", geometry=OFFICE)
    db.rollback()
    assert sites.site_set_version(db) == before
