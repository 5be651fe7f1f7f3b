"""What the map shows, on SpatiaLite and PostGIS: member states, the overview, the tree with
counts, search, a branch, a member, meetings — each within the caller's scope."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from maps import detail, overview
from maps.snapshot import MemberState, Roster, Scope, load_roster
from partymap.seed import SeededDemo
from store.errors import NotFoundError
from store.orgs import get_organisation
from store.query import BBox
from tests.maps.conftest import NOW
from tests.maps.helpers import at_site, place, visit

STALE_AFTER = timedelta(minutes=10)
WORLD = BBox(west=-180.0, south=-85.0, east=180.0, north=85.0)
WUHAN = BBox(west=114.2, south=30.5, east=114.3, north=30.7)


def roster(db: Session) -> Roster:
    return load_roster(db, now=NOW, stale_after=STALE_AFTER)


def branch_scope(db: Session, demo: SeededDemo, key: str) -> Scope:
    org = get_organisation(db, org_id=demo.orgs[key])
    return Scope(org_id=org.id, org_path=org.path)


def member_scope(db: Session, demo: SeededDemo, name: str) -> Scope:
    org = get_organisation(db, org_id=demo.orgs["hq1"])
    return Scope(org_id=org.id, org_path=org.path, member_id=demo.members[name])


@pytest.fixture
def scene(db: Session, demo: SeededDemo) -> SeededDemo:
    """张伟 present in the meeting room, 李娜 arriving there, 周杰 at the office with no
    presence (outside), 朱琳 last seen an hour ago (stale), 胡军 present at the shield worksite;
    everyone else has never sent a position."""
    place(db, demo, "张伟", "room", at=NOW - timedelta(seconds=20), track_s=60)
    at_site(db, demo, "张伟", "room", "present", since=NOW - timedelta(minutes=5))
    place(db, demo, "李娜", "room", at=NOW - timedelta(seconds=5))
    at_site(db, demo, "李娜", "room", "arriving", since=NOW - timedelta(seconds=30))
    place(db, demo, "周杰", "office", at=NOW - timedelta(seconds=40))
    place(db, demo, "朱琳", "office", at=NOW - timedelta(hours=1))
    place(db, demo, "胡军", "shield", at=NOW - timedelta(seconds=10))
    at_site(db, demo, "胡军", "shield", "leaving", since=NOW - timedelta(minutes=50))
    return demo


def state_of(r: Roster, member_id: int) -> str:
    return MemberState(r.members.state[r.members.row(member_id)]).name.lower()


def test_member_states(db: Session, scene: SeededDemo) -> None:
    r = roster(db)
    states = {name: state_of(r, scene.members[name]) for name in scene.members}
    assert states["张伟"] == "present"
    assert states["李娜"] == "arriving"
    assert states["周杰"] == "outside"
    assert states["朱琳"] == "stale"
    assert states["胡军"] == "present"  # leaving: still checked in until the visit ends
    assert states["吴婷"] == "none"
    row = r.members.row(scene.members["张伟"])
    assert r.members.site_id[row] == scene.sites["room"]
    assert len(r.members.id) == len(scene.members)
    assert len(r.sites.id) == len(scene.sites)


def test_overview_clusters_at_country_zoom_and_points_up_close(
    db: Session, scene: SeededDemo
) -> None:
    r = roster(db)
    far = overview.overview(r, Scope(), bbox=WORLD, zoom=4)
    clusters = far.body["members"]["clusters"]
    # The four Wuhan members fall into one cell; 胡军 at the shield worksite is in it too.
    assert [c[2] for c in clusters] == [5]
    assert clusters[0][3] == [0, 1, 1, 1, 2]  # none, stale, outside, arriving, present
    assert far.body["members"]["points"] == []
    assert far.member_ids == ()  # nobody's position revealed by a count
    assert far.body["totals"] == {"none": 33, "stale": 1, "outside": 1, "arriving": 1, "present": 2}

    near = overview.overview(r, Scope(), bbox=WUHAN, zoom=18)
    points = {p[0]: p for p in near.body["members"]["points"]}
    assert set(points) == {scene.members[n] for n in ("张伟", "李娜", "周杰", "朱琳", "胡军")}
    zhang = points[scene.members["张伟"]]
    # 张伟 is checked in at the room: the map counts him there when it is drawn small.
    assert zhang[4:] == ["present", "张伟", scene.sites["room"]] and zhang[3] == 2.5
    assert points[scene.members["周杰"]][6] is None  # at the office, but not checked in
    assert set(near.member_ids) == set(points)
    sites = {p[4]: p for p in near.body["sites"]["points"]}
    assert {"公司机关办公楼", "机关党员活动室", "汉阳盾构始发井"} <= set(sites)
    # Spans in metres: the room is a circle of 20 m radius, the office a 120 m × 80 m box.
    assert sites["机关党员活动室"][6] == pytest.approx(40, abs=1)
    assert sites["公司机关办公楼"][6] == pytest.approx(120, abs=2)


def test_overview_of_a_branch_admin_and_of_a_member(db: Session, scene: SeededDemo) -> None:
    r = roster(db)
    hq1 = overview.overview(r, branch_scope(db, scene, "hq1"), bbox=WUHAN, zoom=18)
    names = {p[5] for p in hq1.body["members"]["points"]}
    assert names == {"张伟", "李娜", "周杰"}  # 朱琳 is in 机关第二党支部, 胡军 on a worksite
    assert {p[4] for p in hq1.body["sites"]["points"]} == {"机关党员活动室"}
    assert hq1.body["totals"]["none"] == 7

    alone = overview.overview(r, member_scope(db, scene, "李娜"), bbox=WUHAN, zoom=18)
    assert [p[5] for p in alone.body["members"]["points"]] == ["李娜"]
    assert sum(alone.body["totals"].values()) == 1


def test_tree_counts_roll_up_subtrees(db: Session, scene: SeededDemo) -> None:
    r = roster(db)
    (top,) = overview.tree(r, Scope(), parent_id=None)["nodes"]
    assert top["name"] == "华建一公司党委"
    assert (top["members"], top["children"], top["sites"]) == (38, 6, 8)
    assert top["states"]["present"] == 2
    west, _, east, _ = top["bounds"]
    assert west < 36.825 and east > 116.287  # Nairobi to Beijing
    children = {n["name"]: n for n in overview.tree(r, Scope(), parent_id=top["id"])["nodes"]}
    assert children["机关党总支"]["members"] == 14
    assert children["机关党总支"]["states"] == {
        "none": 10, "stale": 1, "outside": 1, "arriving": 1, "present": 1
    }  # fmt: skip
    assert children["武汉地铁12号线项目党总支"]["children"] == 2
    shield = overview.tree(r, Scope(), parent_id=scene.orgs["shield"])["nodes"]
    assert [n["name"] for n in shield] == ["盾构一班党小组", "盾构二班党小组"]

    scoped = overview.tree(r, branch_scope(db, scene, "hq1"), parent_id=None)["nodes"]
    assert [n["name"] for n in scoped] == ["机关第一党支部"]
    with pytest.raises(NotFoundError):
        overview.tree(r, branch_scope(db, scene, "hq1"), parent_id=scene.orgs["hq"])


def test_search_by_name_within_scope(db: Session, scene: SeededDemo) -> None:
    r = roster(db)
    found = overview.search(r, Scope(), query="盾构")
    assert [o["name"] for o in found["orgs"]] == [
        "盾构工区党支部", "盾构一班党小组", "盾构二班党小组"
    ]  # fmt: skip
    assert overview.search(r, Scope(), query="胡军")["members"][0]["org"] == "盾构工区党支部"
    assert overview.search(r, branch_scope(db, scene, "hq1"), query="胡军")["members"] == []
    assert overview.search(r, Scope(), query="  ")["members"] == []


def test_names_only_of_what_the_caller_sees(db: Session, scene: SeededDemo) -> None:
    r = roster(db)
    wanted = [scene.members["张伟"], scene.members["胡军"], 99999]
    sites = [scene.sites["room"], scene.sites["shield"], 99999]
    everything = overview.names(r, Scope(), member_ids=wanted, site_ids=sites)
    assert set(everything["members"].values()) == {"张伟", "胡军"}
    assert set(everything["sites"].values()) == {"机关党员活动室", "汉阳盾构始发井"}
    hq1 = overview.names(r, branch_scope(db, scene, "hq1"), member_ids=wanted, site_ids=sites)
    assert hq1 == {
        "members": {scene.members["张伟"]: "张伟"},
        "sites": {scene.sites["room"]: "机关党员活动室"},
        "site_tz": {scene.sites["room"]: "Asia/Shanghai"},
    }


def test_branch_panel(db: Session, scene: SeededDemo) -> None:
    r = roster(db)
    panel = detail.org_detail(db, r, Scope(), org_id=scene.orgs["hq1"])
    body = panel.body
    crumbs = [c["name"] for c in body["breadcrumbs"]]
    assert crumbs == ["华建一公司党委", "机关党总支", "机关第一党支部"]
    assert body["members_total"] == 10
    # Most present first.
    assert [m["name"] for m in body["members"][:3]] == ["张伟", "李娜", "周杰"]
    assert body["members"][0]["site"] == "机关党员活动室"
    assert body["members"][-1]["lon"] is None
    assert [f["properties"]["name"] for f in body["sites"]["features"]] == ["机关党员活动室"]
    west, south, east, north = body["bounds"]
    assert west < 114.2670 < east and south < 30.6196 < north
    assert set(panel.member_ids) == {scene.members[n] for n in ("张伟", "李娜", "周杰")}
    assert body["members"][0]["member_id"] == scene.members["张伟"]
    with pytest.raises(NotFoundError):
        detail.org_detail(db, r, branch_scope(db, scene, "hq1"), org_id=scene.orgs["hq2"])


def test_member_panel_with_track_and_checkins(db: Session, scene: SeededDemo) -> None:
    visit(db, scene, "张伟", "office", start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=1))
    visit(db, scene, "张伟", "room", start=NOW - timedelta(minutes=5))
    r = roster(db)
    panel = detail.member_detail(
        db, r, Scope(), member_id=scene.members["张伟"], now=NOW, hours=1, track_points=20
    )
    body = panel.body
    assert panel.member_ids == (scene.members["张伟"],)
    assert body["track"]["fixes"] == 61
    points = body["track"]["points"]
    assert len(points) <= 21 and points[-1][:2] == [114.267, 30.6196]
    assert [c["site"] for c in body["checkins"]] == ["机关党员活动室", "公司机关办公楼"]
    assert body["checkins"][0]["end"] is None and body["checkins"][0]["beidou_verified"]
    assert body["presence"][0]["state"] == "present"
    assert body["latest"]["sats_beidou"] == 9
    # Times are shown in the member's zone and each check-in's in its site's.
    assert body["tz"] == "Asia/Shanghai" and body["checkins"][0]["tz"] == "Asia/Shanghai"
    assert body["track"]["day"] is None
    with pytest.raises(NotFoundError):  # a member sees only themselves
        detail.member_detail(
            db, r, member_scope(db, scene, "李娜"), member_id=scene.members["张伟"], now=NOW,
            hours=1,
        )  # fmt: skip


def test_meeting_attendance_unfolds(db: Session, scene: SeededDemo) -> None:
    """Before the end, nobody is absent yet: pending, or arriving when inside the room."""
    start = NOW + timedelta(minutes=4)
    visit(db, scene, "王芳", "room", start=start - timedelta(minutes=10))
    visit(db, scene, "赵磊", "room", start=start + timedelta(minutes=3))
    left = start + timedelta(minutes=3)
    visit(db, scene, "黄敏", "room", start=start - timedelta(minutes=9), end=left)
    r = roster(db)
    during = detail.meeting_panel(db, r, Scope(), meeting_id=scene.meeting_id, now=start)
    outcome = {e["name"]: e["outcome"] for e in during.body["roll"]}
    assert outcome["王芳"] == "present"
    assert outcome["赵磊"] == "late"
    assert outcome["黄敏"] == "left_early"
    assert outcome["李娜"] == "arriving"  # inside the room, not checked in yet
    assert outcome["周杰"] == "pending"
    assert during.body["counts"]["pending"] == 5
    assert during.body["meeting"]["status"] == "in_progress"
    assert len(during.member_ids) == 10

    after = detail.meeting_panel(
        db, r, Scope(), meeting_id=scene.meeting_id, now=start + timedelta(hours=2)
    )
    assert {e["name"]: e["outcome"] for e in after.body["roll"]}["周杰"] == "absent"
    assert after.body["meeting"]["status"] == "ended"

    mine = detail.meeting_panel(
        db, r, member_scope(db, scene, "王芳"), meeting_id=scene.meeting_id, now=start
    )
    assert [e["name"] for e in mine.body["roll"]] == ["王芳"]
    with pytest.raises(NotFoundError):
        detail.meeting_panel(
            db, r, branch_scope(db, scene, "hq2"), meeting_id=scene.meeting_id, now=start
        )


def test_meetings_list_and_site_shapes(db: Session, scene: SeededDemo) -> None:
    r = roster(db)
    listed = detail.meetings(db, r, Scope(), now=NOW)["meetings"]
    assert [(m["site"], m["status"], m["tz"]) for m in listed] == [
        ("机关党员活动室", "upcoming", "Asia/Shanghai")
    ]
    assert detail.meetings(db, r, branch_scope(db, scene, "shield"), now=NOW)["meetings"] == []
    shapes = detail.shapes_in_view(db, Scope(), bbox=WUHAN)["features"]
    kinds = {f["properties"]["name"]: f["geometry"]["type"] for f in shapes}
    assert kinds["机关党员活动室"] == "Point" and kinds["公司机关办公楼"] == "Polygon"
    assert "内罗毕项目营地" not in kinds


def test_member_track_of_one_day_in_their_zone(db: Session, scene: SeededDemo) -> None:
    """A day is midnight to midnight where the member works: 周杰's office is in Wuhan, so
    2026-05-01 is 2026-04-30 16:00 to 2026-05-01 16:00 UTC."""
    late = datetime(2026, 4, 30, 15, 59, 30, tzinfo=UTC)  # 23:59:30 in Wuhan, on the 30th
    place(db, scene, "周杰", "office", at=late, track_s=20)
    place(db, scene, "周杰", "office", at=late + timedelta(minutes=1), track_s=20)
    r = roster(db)
    zhou = scene.members["周杰"]

    def day(d: date) -> list[int]:
        body = detail.member_detail(db, r, Scope(), member_id=zhou, now=NOW, hours=1, day=d).body
        assert body["track"]["day"] == d.isoformat()
        return [p[2] for p in body["track"]["points"]]

    first, second = day(date(2026, 4, 30)), day(date(2026, 5, 1))
    midnight = int(datetime(2026, 4, 30, 16, tzinfo=UTC).timestamp())
    assert len(first) == 21 and max(first) < midnight
    # The second walk and the fix NOW - 40 s from the scene (09:00 in Wuhan on the 1st).
    assert len(second) == 22 and min(second) >= midnight
    assert day(date(2026, 5, 2)) == []


def test_member_zone_comes_from_their_site_or_organisation(db: Session, scene: SeededDemo) -> None:
    r = roster(db)
    tz = {
        name: detail.member_tz(r, r.members.row(scene.members[name]))
        for name in ("胡军", "曹阳", "傅磊", "郭强")
    }
    # 郭强's party group has no site of its own: its parent's worksite is in Wuhan.
    assert tz == {
        "胡军": "Asia/Shanghai", "曹阳": "Africa/Nairobi", "傅磊": "Asia/Jakarta",
        "郭强": "Asia/Shanghai",
    }  # fmt: skip
