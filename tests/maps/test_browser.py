"""The map in a real browser (see tests/maps/browser.py): drill-down, tracks, the live feed,
GCJ-02 tiles and scopes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from devkit.simulate import TrackPoint, simulate
from geo.coords import wgs84_to_gcj02
from partymap.ingest.daemon import Daemon
from partymap.ingest.sources import ReplaySpec, SourcePlan
from partymap.seed import MEMBERS
from tests.maps.browser import DemoServer, OpenMap, off_the_loop, open_branch
from tests.maps.helpers import CENTRES

pytestmark = pytest.mark.browser


def test_the_map_loads(open_map: OpenMap) -> None:
    s = open_map("admin", form=True)
    page = s.page
    expect(page.locator("#pm-tree .pm-org-link").first).to_have_text("华建一公司党委")
    # The history was replayed: members are present at their worksites.
    present = int(page.locator("#pm-legend [data-state=present] b").inner_text())
    assert present >= 15
    assert page.locator(".pm-cluster").count() >= 1  # clusters, not a marker per member
    assert page.evaluate("partymap.datum") == "wgs84"
    assert s.errors == []


def test_clicking_a_branch_lists_its_members(open_map: OpenMap) -> None:
    page = open_map("admin").page
    open_branch(page, "机关党总支", "机关第一党支部")
    members = page.locator("#pm-members li")
    expect(members).to_have_count(10)
    expect(page.locator("#pm-org h2")).to_contain_text("机关第一党支部")
    present = page.locator("#pm-members li[data-state=present]")
    assert present.count() >= 2  # 张伟, 王芳 and 黄敏 took their seats before the live part
    expect(page.locator("#pm-members li", has_text="吴婷")).to_have_attribute("data-state", "none")


def test_a_branch_clicked_while_the_map_glides_comes_into_view(
    open_map: OpenMap, server: DemoServer
) -> None:
    """Leaflet ignores a zoom asked for during a zoom animation; the dashboard waits instead."""
    page = open_map("admin").page
    page.evaluate(
        """(id) => { partymap.map.setZoom(partymap.map.getZoom() + 3);
                     return partymap.selectOrg(id); }""",
        server.prepared.seeded.orgs["hq1"],
    )
    lon, lat = CENTRES["room"]
    page.wait_for_function(
        f"""!partymap.map._animatingZoom && partymap.map.getZoom() >= 15
            && partymap.map.getBounds().contains([{lat}, {lon}])""",
        timeout=15_000,  # the zoom animation and the branch fetch, on a busy machine
    )


def test_clicking_a_member_shows_the_track(open_map: OpenMap) -> None:
    page = open_map("admin").page
    open_branch(page, "机关党总支", "机关第一党支部")
    page.click("#pm-members li:has-text('张伟')")
    expect(page.locator("#pm-member h2")).to_contain_text("张伟")
    expect(page.locator("#pm-checkins li").first).to_contain_text("机关党员活动室")
    # The track is drawn on the map's canvas: ask Leaflet for the line.
    points = page.evaluate(
        """() => { let n = 0; partymap.map.eachLayer((layer) => {
              if (layer instanceof L.Polyline && !(layer instanceof L.Polygon)) {
                n = Math.max(n, layer.getLatLngs().length); } }); return n; }"""
    )
    assert points >= 10
    # The map went to the member: the room is in view.
    lon, lat = CENTRES["room"]
    assert page.evaluate(f"partymap.map.getBounds().contains([{lat}, {lon}])")


def test_a_replayed_checkin_appears_live(open_map: OpenMap, server: DemoServer) -> None:
    """吴婷's receiver (silent so far) walks into the meeting room; the replay goes through the
    ingestion daemon and its check-in reaches the open page over the SSE stream."""
    page = open_map("admin").page
    open_branch(page, "机关党总支", "机关第一党支部")
    page.wait_for_function("partymap.live === true")
    uid = next(m.device for m in MEMBERS if m.name == "吴婷")
    log = server.prepared.settings.data_dir / "walk-in.nmea"
    log.write_bytes(walk_into_room(datetime.now(UTC)))
    replay(server, log, uid)
    item = page.locator("#pm-feed li.pm-feed-checkin", has_text="吴婷")
    expect(item).to_contain_text("机关党员活动室", timeout=15_000)
    page.wait_for_timeout(500)  # names are filled in 200 ms after an event: the entry holds
    expect(item).to_contain_text("机关党员活动室")
    stamp = item.locator(".pm-time")
    at = datetime.fromisoformat(str(stamp.get_attribute("data-time")).replace("Z", "+00:00"))
    # In the site's zone, named, with the date: the browser itself is in London.
    local = at.astimezone(ZoneInfo("Asia/Shanghai"))
    expect(stamp).to_have_text(local.strftime("%m-%d %H:%M:%S 北京时间"))
    expect(page.locator("#pm-members li", has_text="吴婷")).to_have_attribute(
        "data-state", "present"
    )


def test_amap_tiles_shift_markers_to_gcj02(open_map: OpenMap) -> None:
    s = open_map("admin")
    page = s.page
    # The view stays put when the tiles change while the markers move some 500 m: look at
    # the office from halfway between its WGS 84 and GCJ-02 places, so both are in view.
    lon, lat = CENTRES["office"]
    glon, glat = wgs84_to_gcj02(lon, lat)
    page.evaluate(f"partymap.map.setView([{(lat + glat) / 2}, {(lon + glon) / 2}], 17)")
    page.wait_for_function("partymap.markers.size > 0")
    member, before_ll, before_px = marker_position(page)

    before_loads = page.evaluate("partymap.overviewLoaded")
    page.click(".leaflet-control-layers-base label:has-text('高德地图')")
    page.wait_for_function("partymap.datum === 'gcj02'")
    page.wait_for_function(f"partymap.overviewLoaded > {before_loads}")
    page.wait_for_function(f"partymap.markers.has({member})")
    after_ll = page.evaluate(
        "(id) => { const p = partymap.markers.get(id).getLatLng(); return [p.lng, p.lat]; }",
        member,
    )
    assert after_ll == pytest.approx(wgs84_to_gcj02(*before_ll), abs=1e-9)
    after_px = page.evaluate(
        """(id) => { const p = partymap.map.latLngToContainerPoint(
             partymap.markers.get(id).getLatLng()); return [p.x, p.y]; }""",
        member,
    )
    # In Wuhan GCJ-02 lies about 500 m east-south-east of WGS 84: hundreds of pixels at zoom 17.
    shift = (after_px[0] - before_px[0], after_px[1] - before_px[1])
    assert shift[0] > 300 and shift[1] > 100
    assert any("autonavi.com" in url for url in s.tiles)
    # The script's formula is geo.coords' to the last digit, anywhere.
    grid = [(lo, la) for lo in (73.5, 102.5, 114.27, 135.0) for la in (-6.2, 18.2, 30.62, 53.5)]
    shifted = page.evaluate(
        "(grid) => grid.map(([lo, la]) => partymap.wgs84ToGcj02(lo, la))", [list(p) for p in grid]
    )
    for (lo, la), got in zip(grid, shifted, strict=True):
        assert got == pytest.approx(wgs84_to_gcj02(lo, la), abs=1e-12)
    assert s.errors == []


def test_a_branch_admin_sees_only_their_subtree(open_map: OpenMap) -> None:
    page = open_map("branch", lang="en").page
    expect(page.locator("#pm-tree .pm-org-link")).to_have_text(["机关第一党支部"])
    totals = page.locator("#pm-legend b").all_inner_texts()
    assert sum(int(t) for t in totals) == 10
    page.fill("#pm-search", "胡军")  # a member of the shield worksite's branch
    expect(page.locator("#pm-search-results")).to_contain_text("No results")
    page.fill("#pm-search", "张")
    expect(page.locator("#pm-search-results .pm-hit-member")).to_have_text(["张伟机关第一党支部"])


def marker_position(page: Page) -> tuple[int, tuple[float, float], tuple[float, float]]:
    """The member drawn nearest the centre of the map: id, lon/lat, pixel position."""
    return tuple(  # type: ignore[return-value]
        page.evaluate(
            """() => { const centre = partymap.map.getCenter();
                 const [id, marker] = [...partymap.markers.entries()].sort((a, b) =>
                   centre.distanceTo(a[1].getLatLng()) - centre.distanceTo(b[1].getLatLng()))[0];
                 const ll = marker.getLatLng();
                 const px = partymap.map.latLngToContainerPoint(ll);
                 return [id, [ll.lng, ll.lat], [px.x, px.y]]; }"""
        )
    )


def walk_into_room(end: datetime) -> bytes:
    """Two minutes and a half of a receiver walking from the office into the meeting room
    (one fix a second), ending at ``end``."""
    (olon, olat), (rlon, rlat) = CENTRES["office"], CENTRES["room"]
    points = []
    for k in range(150):
        f = min(1.0, k / 60)  # a minute's walk, then a minute and a half in the room
        when = end - timedelta(seconds=149 - k)
        points.append(TrackPoint(when, olat + f * (rlat - olat), olon + f * (rlon - olon)))
    return b"".join(line + b"\r\n" for line in simulate(points, "bd-only"))


def replay(server: DemoServer, log: Path, uid: str) -> None:
    """``log`` through the ingestion daemon as ``uid``, publishing to the server's live feed."""
    prepared = server.prepared

    async def run() -> None:
        plan = SourcePlan(replay=(ReplaySpec(log, uid),), http=False)
        async with Daemon(prepared.settings, prepared.engine, plan, live=server.live) as daemon:
            await daemon.sources.done()
        assert daemon.failure is None, daemon.failure

    off_the_loop(run())


def test_the_login_form_says_why_it_refused(browser: Browser, server: DemoServer) -> None:
    """regression: the form said "wrong username or password" when logins were throttled."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
        page.goto(f"{server.url}/map?lang=en")
        said = []
        for _ in range(6):  # five wrong passwords for one name from one address, then refused
            with page.expect_response(re.compile(r"/api/v1/auth/token$")):
                page.fill("#pm-login input[name=username]", "nobody-in-particular")
                page.fill("#pm-login input[name=password]", "not the password")
                page.click("#pm-login button[type=submit]")
            said.append(page.inner_text("#pm-login-error"))
    finally:
        context.close()
    assert said[:5] == ["Wrong username or password"] * 5
    assert re.fullmatch(r"Too many login attempts: try again in \d+ s", said[5]), said[5]


@pytest.mark.parametrize(("path", "title"), [("/docs", ".swagger-ui .info .title"),
                                             ("/redoc", "h1")])  # fmt: skip
def test_the_api_documentation_works_offline(
    browser: Browser, server: DemoServer, path: str, title: str
) -> None:
    """regression: /docs and /redoc loaded Swagger UI and ReDoc from a CDN: blank on an
    intranet."""
    context = browser.new_context()
    outside: list[str] = []
    try:
        page = context.new_page()

        def refuse(route: Route) -> None:
            outside.append(route.request.url)
            route.abort()

        page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), refuse)
        page.goto(f"{server.url}{path}")
        heading = page.wait_for_selector(title, timeout=20_000)
        assert heading is not None and "partymap" in heading.inner_text()
    finally:
        context.close()
    assert outside == []
