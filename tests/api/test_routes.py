"""What the routes answer: GeoJSON in and out, tracks, presence, attendance files, pages."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import gpxpy
import openpyxl
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from store.models import AuditEntry
from tests.api.conftest import client_for
from tests.api.world import T0, World

World3 = tuple[FastAPI, World, Engine]
WINDOW = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}


def _feature(org_id: int, geometry: object, **properties: object) -> dict[str, object]:
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"org_id": org_id, "name": "工地", **properties},
    }


RING = [[114.30, 30.50], [114.31, 30.50], [114.31, 30.51], [114.30, 30.51], [114.30, 30.50]]


def test_sites_round_trip_lon_lat(world_app: World3) -> None:
    app, world, _ = world_app
    org = world.targets["self"].org_id
    headers = world.headers("branch_admin")
    with client_for(app) as client:
        polygon = client.post(
            "/api/v1/sites",
            json=_feature(org, {"type": "Polygon", "coordinates": [RING]}, name="项目部"),
            headers=headers,
        )
        multi = client.post(
            "/api/v1/sites",
            json=_feature(org, {"type": "MultiPolygon", "coordinates": [[RING]]}, name="两块"),
            headers=headers,
        )
        circle = client.post(
            "/api/v1/sites",
            json=_feature(
                org, {"type": "Point", "coordinates": [114.305, 30.505]}, name="门岗", radius_m=30
            ),
            headers=headers,
        )
        assert [r.status_code for r in (polygon, multi, circle)] == [201, 201, 201]
        assert polygon.headers["content-type"] == "application/geo+json"
        assert polygon.json()["geometry"]["coordinates"] == [RING]  # lon first, as sent
        assert circle.json()["properties"]["radius_m"] == 30
        inside = client.get(
            "/api/v1/sites", params={"bbox": "114.29,30.49,114.32,30.52"}, headers=headers
        ).json()
        elsewhere = client.get(
            "/api/v1/sites", params={"bbox": "10,10,11,11"}, headers=headers
        ).json()
        patched = client.patch(
            f"/api/v1/sites/{circle.json()['id']}",
            json={"type": "Feature", "properties": {"radius_m": 45}},
            headers=headers,
        )
    ids = {f["id"] for f in inside["features"]}
    assert {polygon.json()["id"], multi.json()["id"], circle.json()["id"]} <= ids
    assert elsewhere["features"] == [] and elsewhere["type"] == "FeatureCollection"
    assert patched.json()["properties"]["radius_m"] == 45


@pytest.mark.parametrize(
    ("geometry", "extra", "words"),
    [
        ({"type": "Polygon", "coordinates": [RING[:-1]]}, {}, "end where it starts"),
        ({"type": "Polygon", "coordinates": [[[114.3, 30.5, 5.0], *RING[1:]]]}, {}, "at most 2"),
        ({"type": "Point", "coordinates": [30.5, 114.3]}, {"radius_m": 10}, "less than or equal"),
        ({"type": "Point", "coordinates": [114.3, 30.5]}, {}, "radius"),
        ({"type": "LineString", "coordinates": RING}, {}, "tag"),
        ({"type": "Polygon", "coordinates": [RING[:3]]}, {}, "at least 4"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
            },
            {},
            "invalid site geometry",
        ),
        ({"type": "Point", "coordinates": [114.3, 30.5]}, {"tz": "Mars/Base"}, "time zone"),
    ],
    ids=["open-ring", "3d", "lat-lon-swapped", "circle-without-radius", "linestring", "short",
         "bow-tie", "bad-tz"],
)  # fmt: skip
def test_malformed_sites_are_refused_with_a_reason(
    world_app: World3, geometry: dict[str, object], extra: dict[str, object], words: str
) -> None:
    app, world, _ = world_app
    body = _feature(world.targets["self"].org_id, geometry, **extra)
    if "radius_m" not in extra and geometry["type"] == "Point" and "tz" in extra:
        body["properties"]["radius_m"] = 10  # type: ignore[index]
    with client_for(app) as client:
        response = client.post("/api/v1/sites", json=body, headers=world.headers("branch_admin"))
    assert response.status_code == 422
    assert words in response.json()["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [NaN, 30]}}',
        '{"type": "Feature"',
        "[]",
        '{"type": "Feature", "geometry": null, "properties": {}}',
    ],
)
def test_broken_json_is_a_422(world_app: World3, raw: str) -> None:
    app, world, _ = world_app
    headers = {**world.headers("branch_admin"), "Content-Type": "application/json"}
    with client_for(app) as client:
        response = client.post("/api/v1/sites", content=raw.encode(), headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("invalid request:")


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "0,10,1,5", "0,0,200,1", "nan,0,1,1"])
def test_bad_bboxes_are_a_422(world_app: World3, bbox: str) -> None:
    app, world, _ = world_app
    with client_for(app) as client:
        for url in ("/api/v1/sites", "/api/v1/positions/latest"):
            response = client.get(url, params={"bbox": bbox}, headers=world.headers("whole_tree"))
            assert response.status_code == 422, (url, response.text)


def test_antimeridian_bbox(world_app: World3) -> None:
    app, world, _ = world_app
    with client_for(app) as client:
        across = client.get(
            "/api/v1/positions/latest",
            params={"bbox": "170,-10,-170,10"},
            headers=world.headers("whole_tree"),
        )
    assert across.status_code == 200 and across.json()["features"] == []


def test_latest_positions_page_by_member(world_app: World3) -> None:
    app, world, _ = world_app
    headers = world.headers("whole_tree")
    with client_for(app) as client:
        first = client.get("/api/v1/positions/latest", params={"limit": 3}, headers=headers).json()
        rest = client.get(
            "/api/v1/positions/latest",
            params={"limit": 3, "after_member_id": first["next_after_member_id"]},
            headers=headers,
        ).json()
    ids = [f["id"] for f in first["features"] + rest["features"]]
    assert ids == sorted({t.member_id for t in world.targets.values()})
    assert rest["next_after_member_id"] is None
    feature = first["features"][0]
    assert feature["geometry"]["type"] == "Point"
    lon, lat = feature["geometry"]["coordinates"]
    assert 113 < lon < 115 and 30 < lat < 31  # lon/lat order


def test_track_geojson_gpx_and_pages(world_app: World3) -> None:
    app, world, engine = world_app
    member = world.targets["peer"].member_id
    url = f"/api/v1/members/{member}/track"
    headers = world.headers("committee_admin")
    with client_for(app) as client:
        geojson = client.get(url, params=WINDOW, headers=headers).json()
        page = client.get(url, params={**WINDOW, "limit": 4, "offset": 8}, headers=headers).json()
        rejected = client.get(
            url, params={**WINDOW, "include_rejected": True}, headers=headers
        ).json()
        gpx = client.get(url, params={**WINDOW, "format": "gpx"}, headers=headers)
        too_long = client.get(
            url, params={"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
            headers=headers,
        )  # fmt: skip
        backwards = client.get(
            url, params={"start": WINDOW["end"], "end": WINDOW["start"]}, headers=headers
        )
        naive = client.get(url, params={"start": "2026-05-01T08:00:00"}, headers=headers)
    times = [f["properties"]["fix_time"] for f in geojson["features"]]
    assert len(times) == 10 and times == sorted(times) and times[0] == "2026-05-01T08:00:00Z"
    assert len(page["features"]) == 2 and page["next_offset"] is None
    assert rejected["features"][-1]["properties"]["rejections"] == ["hdop_too_high"]
    assert gpx.headers["content-type"].startswith("application/gpx+xml")
    parsed = gpxpy.parse(gpx.text)
    points = parsed.tracks[0].segments[0].points
    assert len(points) == 10 and points[0].longitude == geojson["features"][0]["geometry"][
        "coordinates"][0]  # fmt: skip
    assert [r.status_code for r in (too_long, backwards, naive)] == [422, 422, 422]
    with Session(engine) as db:
        formats = db.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.action == "read_track", AuditEntry.subject_member_id == member
            )
        ).all()
    assert {d["format"] for d in formats if d} >= {"geojson", "gpx"}


def test_presence_and_checkin_evidence(world_app: World3) -> None:
    app, world, _ = world_app
    member = world.targets["self"].member_id
    with client_for(app) as client:
        presence = client.get("/api/v1/presence", headers=world.headers("member")).json()
        checkins = client.get(
            "/api/v1/checkins", params={"beidou_verified": True}, headers=world.headers("member")
        ).json()
    assert [(p["member_id"], p["state"]) for p in presence["items"]] == [(member, "present")]
    evidence = checkins["items"][0]["evidence"]
    assert evidence["beidou_verified"] is True and evidence["sats_used_by_system"]["BEIDOU"] == 8


def test_attendance_as_json_csv_xlsx_and_statistics(world_app: World3) -> None:
    app, world, _ = world_app
    target = world.targets["sibling"]
    url = f"/api/v1/meetings/{target.meeting_id}/attendance"
    headers = world.headers("committee_admin")
    with client_for(app) as client:
        lines = client.get(url, headers=headers).json()["items"]
        csv_text = client.get(url, params={"format": "csv"}, headers=headers).text
        xlsx = client.get(url, params={"format": "xlsx"}, headers=headers).content
        recorded = client.post(url, headers=headers).json()
        stats = client.get(
            "/api/v1/stats/attendance", params={"org_id": target.org_id}, headers=headers
        ).json()["items"]
        stats_csv = client.get(
            "/api/v1/stats/attendance", params={"format": "csv"}, headers=headers
        ).text
    # Checked in 10 minutes before a meeting that starts 30 minutes after T0, still there.
    assert [(a["member_id"], a["status"], a["outcome"], a["evidence"]) for a in lines] == [
        (target.member_id, "present", "present", "beidou")
    ]
    rows = list(csv.reader(io.StringIO(csv_text.removeprefix("\ufeff"))))
    assert rows[:7] == [
        ["会议名称", "支部大会 T-sibling"],
        ["会议类型", "支部党员大会"],
        ["组织", "二支部 T-sibling"],
        ["地点", "会议室 T-sibling"],
        ["日期", "2026-05-01"],
        ["时间", "16:30–17:30"],  # 08:30–09:30 UTC shown in the site's zone
        ["时区", "Asia/Shanghai"],
    ]
    header = rows.index(["党员编号", "姓名", "出勤情况", "自动判定", "依据",
                         "签到时间 (Asia/Shanghai)", "离开时间 (Asia/Shanghai)", "请假事由",
                         "补签记录"])  # fmt: skip
    assert rows[header + 1][:6] == [
        "M-sibling", "党员 T-sibling", "按时出席", "按时出席", "北斗核验", "2026-05-01 16:20:00"
    ]  # fmt: skip
    assert rows[-7:] == [["应到", "1"], ["实到", "1"], ["请假", "0"], ["缺席", "0"],
                         ["迟到", "0"], ["早退", "0"], ["出席率 %", "100.0"]]  # fmt: skip
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx)).active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[header + 1][2] == "按时出席" and cells[-1] == ["出席率 %", 100.0] + [None] * 7
    assert recorded["counts"]["present"] == 1
    assert stats[0]["org_id"] == target.org_id and stats[0]["attendance_rate"] == 1.0
    assert "org_id,org_name,present" in stats_csv


def test_every_list_is_paged(world_app: World3) -> None:
    app, world, _ = world_app
    headers = world.headers("whole_tree")
    lists = [
        "/api/v1/orgs", "/api/v1/members", "/api/v1/devices", "/api/v1/visits",
        "/api/v1/checkins", "/api/v1/presence", "/api/v1/meetings", "/api/v1/users",
        "/api/v1/audit", "/api/v1/stats/attendance",
    ]  # fmt: skip
    with client_for(app) as client:
        for url in lists:
            body = client.get(url, params={"limit": 1}, headers=headers).json()
            assert set(body) == {"items", "limit", "offset", "next_offset"}, url
            assert len(body["items"]) <= 1, url
            assert client.get(url, params={"limit": 0}, headers=headers).status_code == 422
        sites = client.get("/api/v1/sites", params={"limit": 1}, headers=headers).json()
    assert len(sites["features"]) == 1 and sites["next_offset"] == 1


def test_openapi_documents_examples(world_app: World3) -> None:
    app, _, _ = world_app
    text = json.dumps(app.openapi(), ensure_ascii=False)
    for example in ("第一党支部会议室", "Asia/Shanghai", "868120301234567", "read_track"):
        assert example in text
