"""File imports through the API and the command line: whole files or nothing, every problem
named, the same file twice is an update, and the site files of fixtures/sites load."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.auth import create_access_token
from partymap.cli import app as cli
from store import orgs
from store.devices import verify_device_token
from store.models import AuditEntry, Member, Organisation, OrgKind, Role, SiteRow
from store.users import create_user
from tests.api.conftest import TestClient, client_for, make_app
from tests.api.world import PASSWORD, World, build_world
from tests.conftest import FIXTURES

# Children before their parents: the importer places parents first.
ORGS = (
    "code,name,kind,parent_code\n"
    "B9,九支部,branch,G9\nG9,九总支,general_branch,C9\nC9,九党委,party_committee,\n"
)


def _post(
    client: TestClient, kind: str, data: bytes, name: str, headers: dict[str, str], **params: Any
) -> Response:
    return client.post(
        f"/api/v1/import/{kind}",
        files={"file": (name, data, "application/octet-stream")},
        params=params,
        headers=headers,
    )


def _count(engine: Engine, table: type) -> int:
    with Session(engine) as db:
        return int(db.scalar(select(func.count()).select_from(table)) or 0)


def test_orgs_members_devices_in_any_order_and_again(engine: Engine, tmp_path: Path) -> None:
    app = make_app(engine, tmp_path)
    world = build_world(engine, app.state.settings)
    root = world.headers("whole_tree")
    with client_for(app) as client:
        first = _post(client, "orgs", ORGS.encode(), "orgs.csv", root).json()
        again = _post(client, "orgs", ORGS.replace("九支部", "第九支部").encode(), "orgs.csv", root)
        members = "code,name,org_code,phone,active\nX1,李明,B9,13900000000,yes\n"
        made = _post(client, "members", members.encode("utf-8-sig"), "m.csv", root).json()
        moved = _post(client, "members", members.replace("B9", "G9").encode(), "m.csv", root)
        devices = _post(
            client, "devices", b"uid,member_code,name\nimei-9,X1,\xe6\x89\x8b\xe7\x8e\xaf\n",
            "d.csv", root, issue_tokens=True,
        ).json()  # fmt: skip
    assert (first["created"], again.json()["updated"]) == (3, 3)
    assert (made["created"], moved.json()["updated"]) == (1, 1)
    with Session(engine) as db:
        b9 = orgs.find_organisation(db, code="B9")
        g9 = orgs.find_organisation(db, code="G9")
        assert b9 is not None and g9 is not None and b9.name == "第九支部"
        assert b9.path.startswith(g9.path) and b9.depth == 2
        member = db.scalars(select(Member).where(Member.code == "X1")).one()
        assert member.org_id == g9.id and member.phone == "13900000000"
        transfers = db.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "transfer_member", AuditEntry.subject_member_id == member.id
            )
        ).all()
        assert len(transfers) == 1
        assert verify_device_token(db, uid="imei-9", token=devices["tokens"]["imei-9"])


@pytest.mark.parametrize(
    ("kind", "data", "words"),
    [
        ("orgs", b"code,name,kind,parent_code\nA,x,branch,\nA,y,branch,\n", "code 'A' repeats"),
        ("orgs", b"code,name,kind\nA,x,cell\n", "line 2: kind 'cell'"),
        ("orgs", b"code,name\nA,x\n", "missing column(s) kind"),
        ("orgs", b"code,name,kind,parent_code\nA,x,branch,B\nB,y,branch,A\n", "cycle"),
        ("orgs", "code,name,kind\nA,x,branch\n".encode("utf-16"), "not UTF-8"),
        ("orgs", b"code,name,kind\n\x00\x01,x,branch\n", "binary"),
        ("orgs", b"code,name,kind\n", "no rows"),
        ("members", b"code,name,org_code\nM,x,NOPE\n", "org_code 'NOPE' is not"),
        ("members", b"code,name,org_code,active\nM,x,B1,maybe\n", "active 'maybe'"),
        ("devices", b"uid,member_code\nd1,NOPE\n", "member_code 'NOPE' is not"),
        ("sites", b"{not json", "cannot read"),
        ("sites", b'{"type": "FeatureCollection", "features": []}', "no sites"),
    ],
)  # fmt: skip
def test_bad_files_import_nothing_and_say_why(
    world_app: tuple[FastAPI, World, Engine], kind: str, data: bytes, words: str
) -> None:
    app, world, engine = world_app
    before = _count(engine, Organisation)
    name = "sites.geojson" if kind == "sites" else f"{kind}.csv"
    with client_for(app) as client:
        response = _post(client, kind, data, name, world.headers("whole_tree"))
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert _count(engine, Organisation) == before


def _orgs_up_to(engine: Engine, last_id: int) -> None:
    """Organisations with ids 1…last_id, as the fixture site files name them."""
    with Session(engine) as db:
        while (db.scalar(select(func.max(Organisation.id))) or 0) < last_id:
            orgs.create_organisation(db, name="单位", kind=OrgKind.BRANCH)
        db.commit()


def _zipped_shapefile() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in FIXTURES.glob("sites/china_cgcs2000.*"):
            archive.write(part, part.name)
    return buffer.getvalue()


def test_site_files_of_every_kind(engine: Engine, tmp_path: Path) -> None:
    _orgs_up_to(engine, 26)
    app = make_app(engine, tmp_path)
    with Session(engine) as db:
        root = create_user(db, username="root", password=PASSWORD, role=Role.COMMITTEE_ADMIN)
        user_id, password_hash = root.id, root.password_hash
        db.commit()
    token, _ = create_access_token(app.state.settings, user_id=user_id, password_hash=password_hash)
    headers = {"Authorization": f"Bearer {token}"}
    sites = FIXTURES / "sites"
    with client_for(app) as client:
        demo = _post(
            client, "sites", (sites / "demo_sites.geojson").read_bytes(), "demo.geojson", headers
        )
        again = _post(
            client, "sites", (sites / "demo_sites.geojson").read_bytes(), "demo.geojson", headers
        )
        gpkg = _post(
            client, "sites", (sites / "overseas.gpkg").read_bytes(), "overseas.gpkg", headers
        )
        shp = _post(client, "sites", _zipped_shapefile(), "china.zip", headers)
        amap = _post(
            client, "sites", (sites / "amap_gcj02.geojson").read_bytes(), "amap.geojson", headers,
            coord_sys="gcj02",
        )  # fmt: skip
        wrong = _post(client, "sites", b"x", "sites.kml", headers)
    assert demo.status_code == 200 and demo.json()["created"] == 6
    assert again.json() == {**again.json(), "created": 0, "updated": 6}
    # The Nairobi camp is in both files: the second import updates it.
    assert (gpkg.json()["created"], gpkg.json()["updated"]) == (5, 1)
    assert shp.json()["created"] + shp.json()["updated"] == 3
    assert any("GCJ-02" in note for note in amap.json()["notes"])
    assert wrong.status_code == 422 and ".zip" in wrong.json()["detail"]
    created = sum(r.json()["created"] for r in (demo, gpkg, shp, amap))
    assert _count(engine, SiteRow) == created


def test_the_command_line_runs_the_same_imports_and_reports(engine: Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    (tmp_path / "orgs.csv").write_text(ORGS, encoding="utf-8")
    (tmp_path / "members.csv").write_text("code,name,org_code\nX1,李明,B9\n", encoding="utf-8")
    (tmp_path / "devices.csv").write_text("uid,member_code\nimei-9,X1\n", encoding="utf-8")
    steps = [
        ["import", "orgs", str(tmp_path / "orgs.csv"), "--url", url],
        ["import", "members", str(tmp_path / "members.csv"), "--url", url],
        ["import", "devices", str(tmp_path / "devices.csv"), "--url", url, "--issue-tokens"],
        ["user", "add", "li", "--role", "branch_admin", "--org", "1", "--password", PASSWORD,
         "--url", url],
        ["report", "attendance", "--format", "json", "--url", url],
    ]  # fmt: skip
    results = [runner.invoke(cli, args) for args in steps]
    assert [r.exit_code for r in results] == [0, 0, 0, 0, 0], [r.output for r in results]
    assert results[2].stdout.startswith("uid,token\nimei-9,")
    assert "user li" in results[3].stdout and results[4].stdout.strip() == "[]"
    bad = runner.invoke(cli, ["import", "members", str(tmp_path / "orgs.csv"), "--url", url])
    assert bad.exit_code == 2 and "missing column(s) org_code" in bad.stderr


def test_site_import_options_pick_a_layer_and_supply_a_missing_crs(
    engine: Engine, tmp_path: Path
) -> None:
    _orgs_up_to(engine, 26)
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    gpkg = str(FIXTURES / "sites" / "overseas.gpkg")
    no_such = runner.invoke(cli, ["import", "sites", gpkg, "--layer", "camps", "--url", url])
    assert no_such.exit_code == 2 and "camps" in no_such.stderr
    layer = runner.invoke(cli, ["import", "sites", gpkg, "--layer", "sites", "--url", url])
    assert layer.exit_code == 0, layer.output
    # A Shapefile whose .prj went missing: refused, unless its CRS is given.
    for part in FIXTURES.glob("sites/china_cgcs2000.*"):
        if part.suffix != ".prj":
            (tmp_path / part.name).write_bytes(part.read_bytes())
    shp = str(tmp_path / "china_cgcs2000.shp")
    refused = runner.invoke(cli, ["import", "sites", shp, "--url", url])
    assert refused.exit_code == 2 and "no CRS declared" in refused.stderr
    bogus = runner.invoke(cli, ["import", "sites", shp, "--crs", "EPSG:nonsense", "--url", url])
    assert bogus.exit_code == 2 and "unknown CRS 'EPSG:nonsense'" in bogus.stderr
    given = runner.invoke(cli, ["import", "sites", shp, "--crs", "EPSG:4490", "--url", url])
    assert given.exit_code == 0, given.output
    assert _count(engine, SiteRow) == 6 + 3  # overseas.gpkg holds six sites, the Shapefile three


def _site_collection(*features: dict[str, Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def _polygon(ring: list[list[float]], **properties: Any) -> dict[str, Any]:
    base = {"id": 1, "org_id": 1, "name": "会议室", "tz": "Asia/Shanghai"}
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {**base, **properties},
    }


def _by_code(file_id: int, code: str, name: str) -> dict[str, Any]:
    feature = _polygon(CLOSED, id=file_id, name=name)
    feature["properties"] = {"id": file_id, "org_code": code, "name": name, "tz": "Asia/Shanghai"}
    return feature


CLOSED = [[114.0, 30.0], [114.01, 30.0], [114.01, 30.01], [114.0, 30.01], [114.0, 30.0]]


def _zeros_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for suffix in ("shp", "dbf", "shx"):
            archive.writestr(f"sites.{suffix}", b"\0" * 200)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("open.geojson", _site_collection(_polygon(CLOSED[:-1], id=5)),
         "feature 1 (id 5): invalid geometry"),
        ("nan.geojson", _site_collection(_polygon(CLOSED, id=6)).replace(b"30.01", b"NaN"),
         "feature 1 (id 6)"),
        ("zeros.zip", _zeros_zip(), "zeros.zip: "),
        ("empty.gpkg", b"", "empty.gpkg: "),
        ("garbage.zip", b"PK\x03\x04" + b"\xff" * 64, "garbage.zip: "),
    ],
)  # fmt: skip
@pytest.mark.parametrize("repair", [False, True])
def test_every_site_file_reader_error_is_a_422_naming_file_and_feature(
    world_app: tuple[FastAPI, World, Engine], name: str, data: bytes, words: str, repair: bool
) -> None:
    """regression: an unclosed ring, a NaN coordinate or a zero-filled Shapefile gave a 500."""
    app, world, engine = world_app
    before = _count(engine, SiteRow)
    with client_for(app) as client:
        response = _post(client, "sites", data, name, world.headers("whole_tree"), repair=repair)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"{name}: ") and words in detail
    assert "partymap-import" not in detail and "/tmp" not in detail and "upload" not in detail
    assert _count(engine, SiteRow) == before


def test_site_files_name_organisations_by_code_and_print_the_id_map(
    engine: Engine, tmp_path: Path
) -> None:
    """Site files take the organisation's code, as the CSV files do; the command prints the
    map from the file's ids to the stored sites' ids on stdout."""
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    (tmp_path / "orgs.csv").write_text(ORGS, encoding="utf-8")
    assert (
        runner.invoke(cli, ["import", "orgs", str(tmp_path / "orgs.csv"), "--url", url]).exit_code
        == 0
    )
    shifted = [[lon + 0.1, lat] for lon, lat in CLOSED]
    (tmp_path / "sites.geojson").write_bytes(
        _site_collection(_by_code(41, "B9", "九支部会议室"), _polygon(shifted, id=42, name="工地"))
    )
    result = runner.invoke(cli, ["import", "sites", str(tmp_path / "sites.geojson"), "--url", url])
    assert result.exit_code == 0, result.output
    with Session(engine) as db:
        b9 = orgs.find_organisation(db, code="B9")
        stored = dict(db.execute(select(SiteRow.name, SiteRow.id)).all())
        assert b9 is not None
        assert db.scalar(select(SiteRow.org_id).where(SiteRow.name == "九支部会议室")) == b9.id
    assert result.stdout.splitlines() == [
        "file_id,site_id",
        f"41,{stored['九支部会议室']}",
        f"42,{stored['工地']}",
    ]
    unknown = tmp_path / "unknown.geojson"
    unknown.write_bytes(_site_collection(_by_code(43, "NOPE", "x")))
    refused = runner.invoke(cli, ["import", "sites", str(unknown), "--url", url])
    assert refused.exit_code == 2 and "org_code 'NOPE' is not an organisation" in refused.stderr
