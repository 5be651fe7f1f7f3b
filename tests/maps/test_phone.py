"""The dashboard on a 390×844 phone and for everyone: the map has the screen and the panels
are a bottom sheet, pinch zoom works, times name their zone, members at a small site are
counted, tracks play back by day, slow and failed requests say so, rows answer the keyboard,
and text meets WCAG AA contrast in both languages (see tests/maps/browser.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, Route, expect

from tests.maps.browser import DemoServer, OpenMap, open_branch
from tests.maps.helpers import CENTRES

pytestmark = pytest.mark.browser

SIZES = ["desktop", "phone"]
CJK = re.compile(r"[\u3400-\u9fff]")


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def test_a_phone_opens_on_the_map(open_map: OpenMap) -> None:
    s = open_map("admin", size="phone")
    page = s.page
    width, height = 390, 844
    viewport = page.locator("meta[name=viewport]").get_attribute("content") or ""
    assert "user-scalable=no" not in viewport and "maximum-scale" not in viewport
    # The map has most of the screen; the sheet shows only its handle and tabs.
    m = box(page, ".folium-map")
    assert m["width"] * m["height"] >= 0.75 * width * height
    side = box(page, "#pm-side")
    assert side["height"] <= 60 and side["y"] + side["height"] == pytest.approx(height, abs=1)
    # The legend fits: every item inside the screen.
    expect(page.locator("#pm-legend .pm-legend-item")).to_have_count(5)
    items = page.evaluate(
        """[...document.querySelectorAll('#pm-legend .pm-legend-item')].map((e) => {
             const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"""
    )
    assert len(items) == 5
    for left, top, right, bottom in items:
        assert 0 <= left < right <= width and 0 <= top < bottom <= m["y"]
    # The feed is folded into its title; the layer switcher into its button.
    expect(page.locator("#pm-feed")).to_be_hidden()
    expect(page.locator("#pm-live-toggle")).to_have_attribute("aria-expanded", "false")
    expect(page.locator(".leaflet-control-layers-list")).to_be_hidden()
    assert s.errors == []


def test_the_phone_sheet_opens_and_folds(open_map: OpenMap) -> None:
    page = open_map("admin", size="phone").page
    page.click("#pm-tabs [data-tab=orgs]")
    expect(page.locator("body")).to_have_attribute("data-sheet", "half")
    page.wait_for_timeout(300)  # the sheet's transition
    assert box(page, "#pm-side")["height"] >= 0.4 * 844
    first = box(page, "#pm-tree .pm-org-link >> nth=0")
    assert first["y"] + first["height"] <= 844
    open_branch(page, "机关党总支", "机关第一党支部")
    expect(page.locator("#pm-members li")).to_have_count(10)
    expect(page.locator("#pm-members li").first).to_be_in_viewport()
    # The branch is fitted into the part of the map the sheet leaves free.
    lon, lat = CENTRES["room"]
    page.wait_for_function(
        f"""() => {{ const m = partymap.map; if (m._animatingZoom) return false;
            const p = m.latLngToContainerPoint([{lat}, {lon}]);
            const top = document.getElementById('pm-side').getBoundingClientRect().top
              - m.getContainer().getBoundingClientRect().top;
            return p.y > 0 && p.y < top; }}""",
        timeout=15_000,
    )
    page.click("#pm-sheet-handle")
    expect(page.locator("body")).to_have_attribute("data-sheet", "full")
    page.click("#pm-sheet-handle")
    expect(page.locator("body")).to_have_attribute("data-sheet", "closed")
    page.click("#pm-live-toggle")
    expect(page.locator("#pm-feed")).to_be_visible()


def test_pinch_zoom_zooms_the_map_and_the_page(open_map: OpenMap) -> None:
    page = open_map("admin", size="phone").page
    cdp = page.context.new_cdp_session(page)
    before = page.evaluate("partymap.map.getZoom()")

    def pinch(y: float) -> None:
        def touch(kind: str, spread: float) -> None:
            points = [] if kind == "touchEnd" else [
                {"x": 195 - spread, "y": y, "id": 1}, {"x": 195 + spread, "y": y, "id": 2}
            ]  # fmt: skip
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", 30)
        for step in range(1, 11):
            touch("touchMove", 30 + 10 * step)
        touch("touchEnd", 0)

    pinch(420)  # on the map: Leaflet zooms it
    page.wait_for_function(f"partymap.map.getZoom() > {before} && !partymap.map._animatingZoom")
    assert page.evaluate("window.visualViewport.scale") == 1
    # Outside the map, a pinch enlarges the page itself (folium's user-scalable=no is gone).
    pinch(20)
    page.wait_for_function("window.visualViewport.scale > 1.5")


def test_a_desktop_keeps_the_side_panel(open_map: OpenMap) -> None:
    page = open_map("admin").page
    side = box(page, "#pm-side")
    m = box(page, ".folium-map")
    assert side["x"] == 0 and side["width"] == 360 and side["height"] > 800
    assert m["x"] == pytest.approx(360, abs=1) and m["width"] == pytest.approx(1080, abs=1)
    expect(page.locator("#pm-sheet-handle")).to_be_hidden()
    expect(page.locator("#pm-feed")).to_be_visible()
    expect(page.locator(".leaflet-control-layers-list")).to_be_visible()


@pytest.mark.parametrize("size", SIZES)
def test_members_at_a_small_site_are_counted_there(
    open_map: OpenMap, server: DemoServer, size: str
) -> None:
    page = open_map("admin", size=size).page
    lon, lat = CENTRES["room"]
    loads = page.evaluate("partymap.overviewLoaded")
    page.evaluate(f"partymap.map.setView([{lat}, {lon}], 18, {{ animate: false }})")
    page.wait_for_function(f"partymap.overviewLoaded > {loads}")
    group = page.locator(".pm-site-group", has_text="机关党员活动室")
    expect(group).to_have_count(1)
    counted = page.evaluate(
        f"partymap.siteGroups.get({server.prepared.seeded.sites['room']}).members.length"
    )
    assert counted >= 2  # the history leaves several members in the room
    expect(group).to_contain_text(f"机关党员活动室 {counted}人")
    # None of them is drawn on its own as well.
    ids = page.evaluate(
        f"partymap.siteGroups.get({server.prepared.seeded.sites['room']}).members.map(p => p[0])"
    )
    assert not any(page.evaluate(f"partymap.markers.has({i})") for i in ids)
    group.click()
    expect(page.locator("#pm-site-members li")).to_have_count(counted)
    expect(page.locator("#pm-site h2")).to_contain_text("机关党员活动室")
    # Close enough, the room is big on screen and everyone stands alone.
    page.evaluate(f"partymap.map.setView([{lat}, {lon}], 21, {{ animate: false }})")
    expect(page.locator(".pm-site-group")).to_have_count(0)
    page.wait_for_function(f"{json.dumps(ids)}.every((i) => partymap.markers.has(i))")
    page.locator("#pm-site-members li").first.click()
    expect(page.locator("#pm-member h2")).to_be_visible()


@pytest.mark.parametrize("size", SIZES)
def test_a_track_by_day_plays_back(open_map: OpenMap, size: str) -> None:
    page = open_map("admin", size=size).page
    open_branch(page, "机关党总支", "机关第一党支部")
    page.click("#pm-members li:has-text('张伟')")
    slider = page.locator("#pm-track-slider")
    expect(slider).to_be_enabled()
    last = int(slider.get_attribute("max") or 0)
    assert last >= 10
    # The slider's time is the point's, in the member's zone.
    slider.fill("0")
    first = page.evaluate("partymap.state.member.track.points[0][2]")
    at = datetime.fromtimestamp(first, UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    expect(page.locator("#pm-track-time")).to_have_text(at.strftime("%m-%d %H:%M:%S 北京时间"))
    played = "partymap.state.member && document.getElementById('pm-track-slider').value"
    page.click("#pm-track-play")
    page.wait_for_function(f"Number({played}) > 0")
    page.wait_for_function(f"Number({played}) === {last}", timeout=30_000)
    # A day of the member's own calendar: today's track in Wuhan holds the replayed morning.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    page.fill("#pm-track-day", today)
    page.locator("#pm-track-day").dispatch_event("change")
    page.wait_for_function(f"partymap.state.member.track.day === '{today}'")
    expect(page.locator("#pm-track-day")).to_have_value(today)
    count = page.evaluate("partymap.state.member.track.points.length")
    assert count >= 2
    yesterday = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date().isoformat()
    page.fill("#pm-track-day", yesterday)
    page.locator("#pm-track-day").dispatch_event("change")
    page.wait_for_function(f"partymap.state.member.track.day === '{yesterday}'")
    if page.evaluate("partymap.state.member.track.points.length") == 0:
        expect(page.locator("#pm-track-time")).to_have_text("该时段无轨迹")


def test_times_name_their_zone_and_the_feed_keeps_time_order(
    open_map: OpenMap, server: DemoServer
) -> None:
    """Check-ins arriving out of order (a late device) are listed newest first, with dates, in
    their sites' zones: Wuhan's and Nairobi's."""
    page = open_map("admin").page
    page.wait_for_function("partymap.live === true")
    seeded = server.prepared.seeded
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    events = [
        ("张伟", "room", base + timedelta(minutes=5)),
        ("曹阳", "nairobi", base + timedelta(minutes=9)),
        ("王芳", "room", base + timedelta(minutes=1)),
    ]
    server.live.publish_many(
        [
            {"type": "checkin", "member_id": seeded.members[name], "site_id": seeded.sites[site],
             "time": when.isoformat(), "beidou_verified": True}
            for name, site, when in events
        ]
    )  # fmt: skip
    feed = page.locator("#pm-feed li")
    expect(feed.filter(has_text="王芳")).to_have_count(1, timeout=15_000)
    expect(feed.filter(has_text="内罗毕项目营地")).to_have_count(1)
    texts = [feed.nth(k).inner_text() for k in range(3)]
    nairobi = (base + timedelta(minutes=9)).astimezone(ZoneInfo("Africa/Nairobi"))
    wuhan = (base + timedelta(minutes=5)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert texts[0].startswith(nairobi.strftime("%m-%d %H:%M:%S EAT")) and "曹阳" in texts[0]
    assert texts[1].startswith(wuhan.strftime("%m-%d %H:%M:%S 北京时间")) and "张伟" in texts[1]
    assert "王芳" in texts[2]
    # Meetings: the list and the panel give the site's time, zone named.
    page.click("#pm-tabs [data-tab=meetings]")
    expect(page.locator("#pm-meetings li").first).to_contain_text("北京时间")
    page.locator("#pm-meetings li").first.click()
    expect(page.locator("#pm-meeting .pm-when")).to_contain_text("北京时间")


def test_english_names_the_zone_and_speaks_english(open_map: OpenMap) -> None:
    page = open_map("admin", "en").page
    assert page.evaluate("document.documentElement.lang") == "en"
    page.click("#pm-tabs [data-tab=meetings]")
    expect(page.locator("#pm-meetings li").first).to_contain_text("Beijing time")
    page.click("#pm-tabs [data-tab=orgs]")
    open_branch(page, "机关党总支", "机关第一党支部")
    page.click("#pm-members li:has-text('张伟')")
    expect(page.locator("#pm-last-fix")).to_contain_text("Beijing time")
    # The page's own words (tabs, buttons, headings, labels, legend) are English; only the
    # organisation's data (names of people, branches, sites) stays as it was entered.
    chrome = page.evaluate(
        """() => [...document.querySelectorAll(
              '#pm-tabs button, .pm-back, #pm-user button, #pm-side h3, #pm-side label,'
              + ' .pm-legend-item, #pm-live-toggle, .pm-facts dt, #pm-member h2 small ~ *')]
            .filter((e) => e.offsetParent !== null).map((e) => e.innerText)"""
    )
    assert chrome and not [t for t in chrome if CJK.search(t)], chrome


def test_slow_answers_show_a_spinner_and_failures_their_reason(open_map: OpenMap) -> None:
    page = open_map("admin").page
    slow = {"on": True}

    def delay(route: Route) -> None:
        if slow["on"]:
            page.wait_for_timeout(1500)
        route.continue_()

    page.route("**/api/v1/map/orgs/*", delay)
    open_branch(page, "机关党总支", "机关第一党支部")
    expect(page.locator("#pm-busy")).to_be_visible()
    expect(page.locator("#pm-members li")).to_have_count(10)
    expect(page.locator("#pm-busy")).to_be_hidden()
    page.unroute("**/api/v1/map/orgs/*")

    page.route(
        "**/api/v1/map/members/*",
        lambda route: route.fulfill(
            status=503, content_type="application/json",
            body=json.dumps({"detail": "database unavailable"}),
        ),
    )  # fmt: skip
    page.click("#pm-members li:has-text('张伟')")
    expect(page.locator("#pm-notice")).to_have_text("请求失败: database unavailable")
    expect(page.locator("#pm-busy")).to_be_hidden()


def test_a_throttled_login_says_why_and_for_how_long(open_map: OpenMap) -> None:
    page = open_map(None).page
    error = page.locator("#pm-login-error")
    for _ in range(5):
        page.fill("#pm-login input[name=username]", "nobody")
        page.fill("#pm-login input[name=password]", "wrong")
        page.click("#pm-login button[type=submit]")
        expect(error).to_have_text("用户名或密码错误")
        page.evaluate("document.getElementById('pm-login-error').hidden = true")
    page.fill("#pm-login input[name=password]", "wrong")
    page.click("#pm-login button[type=submit]")
    expect(error).to_have_text(re.compile(r"^登录尝试过多，请 \d+ 秒后再试$"))
    wait = int(re.findall(r"\d+", error.inner_text())[0])
    assert 1 <= wait <= 300


def test_rows_answer_the_keyboard(open_map: OpenMap) -> None:
    page = open_map("admin").page
    link = page.locator("a.pm-org-link:text-is('华建一公司党委')")
    link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#pm-org h2")).to_contain_text("华建一公司党委")
    row = page.locator("#pm-members li").first
    expect(row).to_have_attribute("tabindex", "0")
    expect(row).to_have_attribute("role", "button")
    name = row.locator(".pm-name").inner_text()
    row.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#pm-member h2")).to_contain_text(name)
    # Tabs move with the arrow keys.
    page.locator("#pm-tabs [data-tab=orgs]").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#pm-tabs [data-tab=meetings]")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#pm-meetings li").first).to_be_visible()
    page.locator("#pm-meetings li").first.focus()
    page.keyboard.press(" ")
    expect(page.locator("#pm-meeting h2")).to_be_visible()


# Contrast as WCAG 2.1 defines it: relative luminance of sRGB, (L1 + 0.05) / (L2 + 0.05);
# the background is the nearest painted one, semi-transparent layers blended over white.
CONTRAST = """() => {
  const rgba = (s) => { const m = s.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m[3] ?? 1]; };
  const lum = ([r, g, b]) => { const c = [r, g, b].map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
  const over = (top, bottom) =>
    [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1);
  const background = (node) => {
    const layers = [];
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] === 1) break;
    }
    return layers.reverse().reduce((acc, c) => over(c, acc), [255, 255, 255, 1]);
  };
  const low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const node = t.parentElement;
    if (!t.textContent.trim() || !node.closest('[id^="pm-"]') || node.closest('[hidden]')) continue;
    if (node.offsetParent === null || node.closest('button:disabled, input:disabled')) continue;
    const style = getComputedStyle(node);
    if (style.visibility === 'hidden') continue;
    const fg = over(rgba(style.color), background(node));
    const a = lum(fg), b = lum(background(node));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) low.push(`${t.textContent.trim().slice(0, 20)}: ${ratio.toFixed(2)}`);
  }
  return low;
}"""


@pytest.mark.parametrize(("size", "lang"), [("desktop", "zh-CN"), ("phone", "en")])
def test_text_meets_wcag_aa_contrast(open_map: OpenMap, size: str, lang: str) -> None:
    page = open_map("admin", lang, size=size).page
    assert page.evaluate("document.documentElement.lang") == lang
    open_branch(page, "机关党总支", "机关第一党支部")
    expect(page.locator("#pm-members li")).to_have_count(10)
    # The check sees a pale grey label for what it is (2.2:1 on the panel's #fafafa).
    page.evaluate(
        """document.getElementById('pm-org').insertAdjacentHTML('beforeend',
             '<span id="pm-probe" style="color:#aaa">probe</span>')"""
    )
    assert [t for t in page.evaluate(CONTRAST) if t.startswith("probe")] == ["probe: 2.23"]
    page.evaluate("document.getElementById('pm-probe').remove()")
    assert page.evaluate(CONTRAST) == []
    page.click("#pm-tabs [data-tab=meetings]")
    page.locator("#pm-meetings li").first.click()
    expect(page.locator("#pm-roll li").first).to_be_visible()
    assert page.evaluate(CONTRAST) == []
    if size == "phone":  # the sheet folds away (half → full → closed) to show the feed
        page.click("#pm-sheet-handle")
        page.click("#pm-sheet-handle")
        page.click("#pm-live-toggle")
    expect(page.locator("#pm-feed")).to_be_visible()
    assert page.evaluate(CONTRAST) == []
    # The secretary's form, the statistics and the alerts.
    page.click("#pm-tabs [data-tab=meetings]")  # the tab opens on its list
    page.click("#pm-new-meeting")
    expect(page.locator("#pm-f-site option")).not_to_have_count(0)
    assert page.evaluate(CONTRAST) == []
    page.click("#pm-tabs [data-tab=stats]")
    page.wait_for_function("partymap.charts === 2")
    assert page.evaluate(CONTRAST) == []
    page.click("#pm-tabs [data-tab=alerts]")
    expect(page.locator("#pm-alerts h2")).to_be_visible()
    assert page.evaluate(CONTRAST) == []
