"""Scope beyond the matrix: what the map's aggregates reveal, one rule for sites everywhere, and
out-of-scope objects that read exactly as if they did not exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from store import devices, members, orgs, sites
from store.errors import conflict_with_existing
from store.latest import latest_positions
from store.models import AuditEntry, OrgKind
from store.positions import PositionBatch, write_positions
from tests.api.conftest import client_for, make_app
from tests.api.world import build_world, square
from tests.store.helpers import position


def _stored_positions(engine: Engine, member_ids: set[int]) -> set[float]:
    """Every coordinate (6 decimals, as the map rounds) of the members' latest positions."""
    with Session(engine) as db:
        latest = latest_positions(db, member_ids=sorted(member_ids))
    return {round(p.lon, 6) for p in latest} | {round(p.lat, 6) for p in latest}


def test_clusters_reveal_no_member_and_points_are_audited(engine: Engine, tmp_path: Path) -> None:
    """regression: cluster bounds were exactly two members' stored positions, unaudited."""
    app = make_app(engine, tmp_path, map_refresh_seconds=0)
    world = build_world(engine, app.state.settings)
    branch = world.targets["self"]
    with Session(engine) as db:
        # Members of the branch scattered near its site, so clusters have distinct extremes.
        extra = [
            members.create_member(db, org_id=branch.org_id, name=f"党员{n}", code=f"X{n}").id
            for n in range(6)
        ]
        device = devices.create_device(db, uid="scatter", member_id=extra[0])
        batch = PositionBatch.from_positions(
            position(m, device.id, 900 + n, lat=30.5 + 0.003 * n, lon=114.0 + 0.002 * n)
            for n, m in enumerate(extra)
        )
        write_positions(db, batch=batch)
        db.commit()
    visible = set(extra) | {branch.member_id, world.targets["peer"].member_id}
    exact = _stored_positions(engine, visible)
    assert len(exact) > 10
    seen_clusters = 0
    with client_for(app) as client:
        for zoom in range(3, 17):
            before = _last_audit(engine)
            body = client.get(
                "/api/v1/map/overview",
                params={"bbox": "113,29,116,32", "zoom": zoom},
                headers=world.headers("branch_admin"),
            ).json()
            for lon, lat, _count, _states, bounds in body["members"]["clusters"]:
                seen_clusters += 1
                shown = {round(v, 6) for v in (lon, lat, *bounds)}
                assert not shown & exact, f"zoom {zoom}: a cluster shows a member's position"
            points = {p[0] for p in body["members"]["points"]}
            assert points <= _audited(engine, before, world.user_ids["branch_admin"])
    assert seen_clusters > 5


def _last_audit(engine: Engine) -> int:
    with Session(engine) as db:
        return int(db.scalar(select(func.coalesce(func.max(AuditEntry.id), 0))) or 0)


def _audited(engine: Engine, after: int, user_id: int) -> set[int]:
    with Session(engine) as db:
        return set(
            db.scalars(
                select(AuditEntry.subject_member_id).where(
                    AuditEntry.id > after,
                    AuditEntry.action == "read_positions",
                    AuditEntry.actor_user_id == user_id,
                )
            )
        )


def test_a_member_sees_the_same_sites_on_the_map_as_in_the_api(
    engine: Engine, tmp_path: Path
) -> None:
    """regression: the map's branch panel showed a member their branch's party group's site
    (and bounds reaching it), which GET /api/v1/sites rightly did not."""
    app = make_app(engine, tmp_path, map_refresh_seconds=0)
    world = build_world(engine, app.state.settings)
    branch = world.targets["self"].org_id
    with Session(engine) as db:
        group = orgs.create_organisation(
            db, name="党小组", kind=OrgKind.PARTY_GROUP, parent_id=branch, code="G-child"
        )
        far = sites.create_site(
            db, org_id=group.id, name="小组工地 T-child", geometry=square(120.0, 36.0)
        )
        db.commit()
    with client_for(app) as client:
        headers = world.headers("member")
        listed = client.get("/api/v1/sites", headers=headers).json()
        panel = client.get(f"/api/v1/map/orgs/{branch}", headers=headers).json()
        tree = client.get("/api/v1/map/tree", headers=headers).json()
        admin_panel = client.get(
            f"/api/v1/map/orgs/{branch}", headers=world.headers("branch_admin")
        ).json()
    api_ids = {f["id"] for f in listed["features"]}
    map_ids = {f["id"] for f in panel["sites"]["features"]}
    assert far.id not in api_ids and map_ids == api_ids
    assert panel["sites_total"] == len(api_ids)
    _west, _south, east, north = panel["bounds"]
    assert east < 119 and north < 35, "the bounds reach the party group's site"
    assert tree["nodes"][0]["sites"] == len(api_ids)
    # The branch's admin does see the party group's site: the rule is the scope, not the page.
    assert far.id in {f["id"] for f in admin_panel["sites"]["features"]}


def test_keys_outside_the_scope_read_like_any_taken_key(engine: Engine, tmp_path: Path) -> None:
    """regression: a members file naming another committee's member answered "outside your
    scope", and POST /devices with another committee's device uid answered "already exists":
    both confirmed what the caller may not see."""
    app = make_app(engine, tmp_path)
    world = build_world(engine, app.state.settings)
    headers = world.headers("branch_admin")
    own, other = world.targets["self"], world.targets["outside"]
    with client_for(app) as client:

        def device(uid: str) -> Any:
            body = {"uid": uid, "member_id": own.member_id}
            return client.post("/api/v1/devices", json=body, headers=headers)

        def upload(kind: str, text: str) -> Any:
            files = {"file": (f"{kind}.csv", text.encode(), "text/csv")}
            return client.post(f"/api/v1/import/{kind}", files=files, headers=headers)

        theirs, mine = device(other.device_uid), device(own.device_uid)
        members_file = upload("members", f"code,name,org_code\n{other.member_code},某人,B1\n")
        devices_file = upload("devices", f"uid,member_code\n{other.device_uid},{own.member_code}\n")
        orgs_file = upload("orgs", "code,name,kind,parent_code\nB3,某支部,branch,B1\n")
    assert theirs.status_code == mine.status_code == 409
    assert theirs.json()["detail"] == conflict_with_existing("uid", other.device_uid)
    assert mine.json()["detail"] == conflict_with_existing("uid", own.device_uid)
    for response, key, value in (
        (members_file, "code", other.member_code),
        (devices_file, "uid", other.device_uid),
        (orgs_file, "code", "B3"),
    ):
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert detail.endswith(f"line 2: {conflict_with_existing(key, value)}"), detail
        assert "scope" not in detail and "党员 T-outside" not in detail
