"""Loading site files: the samples in fixtures/sites, CRS handling, GCJ-02, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping

from geo.coords import LocalFrame
from geo.errors import SiteFileError
from geo.sites.load import load_sites
from geo.sites.membership import SiteIndex

SITES = Path(__file__).resolve().parents[2] / "fixtures" / "sites"
GOOD = {"id": 1, "org_id": 2, "name": "项目部", "tz": "Asia/Shanghai"}
BOX = Polygon([(114.30, 30.50), (114.301, 30.50), (114.301, 30.501), (114.30, 30.501)])


def write_geojson(path: Path, features: list[tuple[dict[str, Any], Any]]) -> Path:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": p, "geometry": None if g is None else mapping(g)}
            for p, g in features
        ],
    }
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def max_offset_m(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Hausdorff distance between two geometries, in metres."""
    frame = LocalFrame.at(lon=a.centroid.x, lat=a.centroid.y)
    origin, scale = np.array([frame.lon0, frame.lat0]), np.array([frame.kx, frame.ky])
    local_a, local_b = (shapely.transform(g, lambda xy: (xy - origin) * scale) for g in (a, b))
    return float(shapely.hausdorff_distance(local_a, local_b))


def test_sample_files_load_and_index() -> None:
    demo = load_sites(SITES / "demo_sites.geojson").sites
    overseas = load_sites(SITES / "overseas.gpkg", layer="sites").sites
    shp = load_sites(SITES / "china_cgcs2000.shp").sites
    assert [s.id for s in demo] == [101, 102, 103, 104, 105, 201]
    assert {s.tz for s in overseas} >= {"Africa/Nairobi", "Asia/Riyadh", "Asia/Jakarta"}
    by_id = {s.id: s for s in demo + overseas}
    assert by_id[102].radius_m == 15.0 and by_id[102].kind.value == "meeting_room"
    assert by_id[103].params.hysteresis_m == 25.0 and by_id[104].params.max_gap_s == 900.0
    assert by_id[204].quality.min_sats == 6
    # CGCS2000 is taken as WGS 84: the Shapefile's polygons are the GeoJSON's, unshifted.
    for site in shp:
        assert max_offset_m(site.geometry, by_id[site.id].geometry) < 1e-6
    assert len(SiteIndex.build([*demo[:5], *overseas])) == 11


def test_declared_gcj02_is_converted_back_to_wgs84() -> None:
    amap = load_sites(SITES / "amap_gcj02.geojson")
    demo = {s.id: s for s in load_sites(SITES / "demo_sites.geojson").sites}
    assert "3 site(s) declared GCJ-02, converted to WGS 84" in amap.notes
    for site in amap.sites:
        assert max_offset_m(site.geometry, demo[site.id].geometry) < 0.01


def test_nothing_is_converted_because_it_looks_like_china(tmp_path: Path) -> None:
    raw = json.loads((SITES / "amap_gcj02.geojson").read_text(encoding="utf-8"))
    for feature in raw["features"]:
        del feature["properties"]["coord_sys"]
    undeclared = tmp_path / "undeclared.geojson"
    undeclared.write_text(json.dumps(raw), encoding="utf-8")
    demo = {s.id: s for s in load_sites(SITES / "demo_sites.geojson").sites}
    for site in load_sites(undeclared).sites:
        assert 300 < max_offset_m(site.geometry, demo[site.id].geometry) < 800
    # The whole file can be declared instead of every feature; a feature's own value wins.
    declared = load_sites(undeclared, coord_sys="gcj02").sites
    assert all(max_offset_m(s.geometry, demo[s.id].geometry) < 0.01 for s in declared)
    raw["features"][0]["properties"]["coord_sys"] = "wgs84"
    undeclared.write_text(json.dumps(raw), encoding="utf-8")
    first = load_sites(undeclared, coord_sys="gcj02").sites[0]
    assert max_offset_m(first.geometry, demo[first.id].geometry) > 300


def test_projected_files_are_unprojected_on_their_own_datum(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame([GOOD], geometry=[BOX], crs="EPSG:4326").to_crs("EPSG:32650")
    frame.to_file(tmp_path / "utm.gpkg")
    (site,) = load_sites(tmp_path / "utm.gpkg").sites
    assert max_offset_m(site.geometry, BOX) < 1e-3
    gk = gpd.GeoDataFrame([GOOD], geometry=[BOX], crs="EPSG:4490").to_crs("EPSG:4547")
    gk.to_file(tmp_path / "gauss_kruger.gpkg")
    (site,) = load_sites(tmp_path / "gauss_kruger.gpkg").sites
    assert max_offset_m(site.geometry, BOX) < 1e-3
    with pytest.raises(SiteFileError, match="projected"):
        load_sites(tmp_path / "utm.gpkg", coord_sys="gcj02")


def test_other_datums_and_missing_crs_are_refused(tmp_path: Path) -> None:
    gpd.GeoDataFrame([GOOD], geometry=[BOX], crs="EPSG:4214").to_file(tmp_path / "bj54.gpkg")
    with pytest.raises(SiteFileError, match="Beijing 1954"):
        load_sites(tmp_path / "bj54.gpkg")
    gpd.GeoDataFrame([GOOD], geometry=[BOX], crs="EPSG:4326").to_file(tmp_path / "noprj.shp")
    (tmp_path / "noprj.prj").unlink()
    with pytest.raises(SiteFileError, match="no CRS declared"):
        load_sites(tmp_path / "noprj.shp")
    assert len(load_sites(tmp_path / "noprj.shp", crs="EPSG:4490").sites) == 1


def test_coordinates_in_the_wrong_crs_are_caught(tmp_path: Path) -> None:
    metres = Polygon([(500000, 3380000), (500100, 3380000), (500100, 3380100), (500000, 3380100)])
    path = write_geojson(tmp_path / "metres.geojson", [(GOOD, metres)])
    with pytest.raises(SiteFileError, match="coordinates outside lon"):
        load_sites(path)


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError, match="no sites in the file"):
        load_sites(write_geojson(tmp_path / "empty.geojson", []))
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("this is not GeoJSON", encoding="utf-8")
    with pytest.raises(SiteFileError, match="cannot read"):
        load_sites(garbage)


def test_invalid_geometry_is_refused_or_repaired(tmp_path: Path) -> None:
    bowtie = Polygon([(114.30, 30.50), (114.301, 30.501), (114.301, 30.50), (114.30, 30.501)])
    path = write_geojson(tmp_path / "bowtie.geojson", [(GOOD, bowtie)])
    with pytest.raises(
        SiteFileError, match=r"feature 1 \(id 1\): invalid geometry: Self-intersection"
    ):
        load_sites(path)
    loaded = load_sites(path, repair=True)
    (site,) = loaded.sites
    assert isinstance(site.geometry, MultiPolygon) and site.geometry.is_valid
    assert len(site.geometry.geoms) == 2
    assert any("repaired invalid geometry (Self-intersection" in n for n in loaded.notes)


def test_every_problem_of_a_file_is_listed(tmp_path: Path) -> None:
    features = [
        ({"id": 1, "name": "no org, no zone"}, BOX),
        ({**GOOD, "id": 2, "tz": "Asia/Beijing"}, BOX),
        ({**GOOD, "id": 3}, Point(114.3, 30.5)),
        ({**GOOD, "id": 4, "kind": "canteen"}, BOX),
        ({**GOOD, "id": 5, "dwell_s": -5}, BOX),
        ({**GOOD, "id": 6, "coord_sys": "bd09"}, BOX),
        ({**GOOD, "id": 7}, None),
        ({**GOOD, "id": 8}, shapely.LineString([(114.3, 30.5), (114.31, 30.5)])),
        ({**GOOD, "id": 9}, BOX),
        ({**GOOD, "id": 9}, BOX),
    ]
    with pytest.raises(SiteFileError) as caught:
        load_sites(write_geojson(tmp_path / "bad.geojson", features))
    problems = caught.value.problems
    expected = [
        "feature 1 (id 1): missing org_id, tz",
        "feature 2 (id 2): unknown time zone 'Asia/Beijing'",
        "feature 3 (id 3): site 3 '项目部': a point site needs radius_m > 0 (got None)",
        "feature 4 (id 4): 'canteen' is not a valid SiteKind",
        "feature 5 (id 5): dwell_s must be ≥ 0 (got -5",
        "feature 6 (id 6): coord_sys 'bd09' is not one of ['cgcs2000', 'gcj02', 'wgs84']",
        "feature 7 (id 7): no geometry",
        "feature 8 (id 8): site 8 '项目部': unsupported geometry type LineString",
        "feature 10 (id 9): duplicate id 9",
    ]
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)
    assert str(caught.value).startswith(f"{tmp_path / 'bad.geojson'}: 9 problems")
