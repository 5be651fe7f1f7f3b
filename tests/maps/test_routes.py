"""The map over HTTP: the page and its files, the data endpoints, their audit entries, and a
snapshot that follows changes of the tree at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import create_access_token
from partymap.seed import SeededDemo, seed_demo
from store.db import make_engine
from store.members import transfer_member
from store.migrations import upgrade
from store.models import AuditEntry
from store.users import find_user
from tests.api.conftest import TestClient, client_for, make_app
from tests.maps.helpers import at_site, place


@dataclass
class Served:
    client: TestClient
    db: Session
    demo: SeededDemo
    tokens: dict[str, str]  # login → bearer token

    def auth(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo organisation behind the app; 张伟 present in the meeting room now."""
    root = tmp_path_factory.mktemp("map-routes")
    engine = make_engine(f"sqlite:///{root / 'map.sqlite'}")
    upgrade(engine)
    app = make_app(engine, root)
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as db:
        demo = seed_demo(db, live_start=now)
        db.commit()
        place(db, demo, "张伟", "room", at=now - timedelta(seconds=5), track_s=30)
        at_site(db, demo, "张伟", "room", "present", since=now - timedelta(minutes=3))
        place(db, demo, "胡军", "shield", at=now - timedelta(seconds=5))
        tokens = {}
        for login in ("admin", "branch"):
            user = find_user(db, username=login)
            assert user is not None
            tokens[login] = create_access_token(
                app.state.settings, user_id=user.id, password_hash=user.password_hash
            )[0]
        with client_for(app) as client:
            yield Served(client, db, demo, tokens)
    engine.dispose()


def audit_entries(db: Session, action: str) -> list[AuditEntry]:
    db.rollback()
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_the_page_needs_no_cdn_and_its_files_are_served(
    served: Served,
) -> None:
    client = served.client
    page = client.get("/map")
    assert page.status_code == 200 and "partymapDashboard(" in page.text
    assert "cdn." not in page.text and "code.jquery.com" not in page.text
    assert "党建电子地图" in page.text
    assert "Party electronic map" in client.get("/map", params={"lang": "en"}).text
    script = client.get("/map/static/dashboard.js", params={"v": "x"})
    assert script.status_code == 200 and "immutable" in script.headers["cache-control"]
    assert client.get("/map/static/vendor/leaflet/leaflet.js").status_code == 200
    for escape in ("../page.py", "%2e%2e/page.py", "vendor/../../page.py", "nothing.js"):
        assert client.get(f"/map/static/{escape}").status_code == 404


def test_data_needs_a_login_and_a_sane_view(served: Served) -> None:
    client = served.client
    view = {"bbox": "114,30,115,31", "zoom": 10}
    assert client.get("/api/v1/map/overview", params=view).status_code == 401
    admin = served.auth("admin")
    for bad in ("114,30,115", "a,b,c,d", "114,95,115,96", "nan,30,115,31"):
        response = client.get("/api/v1/map/overview", params={**view, "bbox": bad}, headers=admin)
        assert response.status_code == 422, bad
    response = client.get("/api/v1/map/overview", params={**view, "zoom": 40}, headers=admin)
    assert response.status_code == 422
    assert client.get("/api/v1/map/members/0", headers=admin).status_code == 422
    assert client.get("/api/v1/map/search", params={"q": ""}, headers=admin).status_code == 422


def test_reads_of_personal_data_are_audited(served: Served) -> None:
    client, db, demo = served.client, served.db, served.demo
    admin = served.auth("admin")
    zhang, hu = demo.members["张伟"], demo.members["胡军"]
    far = client.get(
        "/api/v1/map/overview", params={"bbox": "-180,-85,180,85", "zoom": 3}, headers=admin
    )
    assert far.json()["members"]["points"] == []  # clusters only: nobody revealed
    near = client.get(
        "/api/v1/map/overview", params={"bbox": "114.2,30.5,114.3,30.7", "zoom": 17}, headers=admin
    )
    assert {p[0] for p in near.json()["members"]["points"]} == {zhang, hu}
    assert near.json()["shapes"]["features"]  # site outlines at this zoom
    assert {e.subject_member_id for e in audit_entries(db, "read_positions")} == {zhang, hu}

    member = client.get(f"/api/v1/map/members/{zhang}", headers=admin).json()
    assert member["track"]["fixes"] == 31
    assert [e.subject_member_id for e in audit_entries(db, "read_track")] == [zhang]
    # One day of the member's calendar (Wuhan's): audited with the day asked for.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    day = client.get(f"/api/v1/map/members/{zhang}", params={"day": today}, headers=admin)
    assert day.json()["track"]["day"] == today and day.json()["tz"] == "Asia/Shanghai"
    assert audit_entries(db, "read_track")[-1].detail["day"] == today
    for bad in ("2026-13-01", "yesterday", "1066-10-14"):
        answer = client.get(f"/api/v1/map/members/{zhang}", params={"day": bad}, headers=admin)
        assert answer.status_code == 422, bad

    meeting = client.get(f"/api/v1/map/meetings/{demo.meeting_id}", headers=admin).json()
    assert len(meeting["roll"]) == 10
    assert len({e.subject_member_id for e in audit_entries(db, "read_attendance")}) == 10
    assert all(e.actor == "admin" for e in audit_entries(db, "read_attendance"))


def test_a_branch_secretary_sees_their_branch_only(
    served: Served,
) -> None:
    client, demo = served.client, served.demo
    branch = served.auth("branch")
    tree = client.get("/api/v1/map/tree", headers=branch).json()
    assert [n["name"] for n in tree["nodes"]] == ["机关第一党支部"]
    assert tree["nodes"][0]["members"] == 10
    shield = demo.orgs["shield"]
    assert client.get(f"/api/v1/map/orgs/{shield}", headers=branch).status_code == 404
    hu = demo.members["胡军"]
    assert client.get(f"/api/v1/map/members/{hu}", headers=branch).status_code == 404
    found = client.get("/api/v1/map/search", params={"q": "胡"}, headers=branch).json()
    assert found["members"] == []
    names = client.get("/api/v1/map/names", params={"members": str(hu)}, headers=branch).json()
    assert names["members"] == {}


def test_the_map_follows_a_transfer_at_once(served: Served) -> None:
    """Who belongs where decides what a caller sees: no waiting for the snapshot's refresh."""
    client, db, demo = served.client, served.db, served.demo
    branch = served.auth("branch")
    before = client.get(f"/api/v1/map/orgs/{demo.orgs['hq1']}", headers=branch).json()
    db.rollback()
    transfer_member(db, member_id=demo.members["胡军"], org_id=demo.orgs["hq1"])
    db.commit()
    after = client.get(f"/api/v1/map/orgs/{demo.orgs['hq1']}", headers=branch).json()
    assert after["members_total"] == before["members_total"] + 1
    assert "胡军" in {m["name"] for m in after["members"]}


def test_the_page_lists_assets_that_exist(served: Served) -> None:
    client = served.client
    page = client.get("/map").text
    for src in (
        "vendor/leaflet/leaflet.js",
        "vendor/leaflet/leaflet.css",
        "kit.js",
        "dashboard.js",
        "meetings.js",
    ):
        start = page.index(f"/map/static/{src}")
        url = page[start : page.index('"', start)]
        assert client.get(url).status_code == 200, url
