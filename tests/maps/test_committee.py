"""The committee's view in the dashboard (see tests/maps/browser.py): statistics of a subtree
with ECharts charts served from the package, the branch ranking and the statistics download,
alerts as a badge, a list and live, a member's attendance history, and the big screen (大屏)
that runs on a display token with no login."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.maps.browser import SIZES, DemoServer, OpenMap
from tests.maps.test_workflow import call, ended_meeting

pytestmark = pytest.mark.browser


def figure(page: Page, name: str) -> str:
    return page.locator(f"#pm-stats-totals [data-figure={name}] b").inner_text()


@pytest.mark.parametrize("size", list(SIZES))
def test_statistics_with_charts_and_ranking(
    open_map: OpenMap, server: DemoServer, size: str
) -> None:
    ended_meeting(server, f"统计（{size}）")
    s = open_map("admin", size=size)
    page = s.page
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    page.click("#pm-tabs [data-tab=stats]")
    expect(page.locator("#pm-stats-totals")).to_be_visible()
    page.wait_for_function("partymap.charts === 2")
    # The figures are the API's for the same subtree and range.
    committee = server.orgs["华建一公司党委"]
    start = page.input_value("#pm-stats-from")
    api = call(server, "admin", "GET", "/stats/overview", params={"org_id": committee,
               "start": start})  # fmt: skip
    total = api["total"]
    assert figure(page, "held") == f"{total['held']}/{total['required']}"
    assert figure(page, "expected") == str(total["attendance"]["expected"])
    assert total["attendance"]["expected"] >= 10 and total["held"] >= 1
    rate = total["attendance"]["rate"]
    assert figure(page, "rate") == f"{round(rate * 1000) / 10:g}%"
    # Rate by organisation: a bar per organisation below the committee; the trend by month.
    # (Long names are cut short on the axis; the chart's description has them whole.)
    described = page.locator("#pm-chart-orgs").get_attribute("aria-label") or ""
    for child in api["children"]:
        assert child["org_name"] in described
    bars = page.locator("#pm-chart-orgs svg text").all_text_contents()
    assert "机关党总支" in bars
    months = page.locator("#pm-chart-months svg text").all_text_contents()
    assert any(re.fullmatch(r"\d{4}-\d{2}", t) for t in months)
    ranking = page.locator("#pm-ranking tbody tr")
    expect(ranking.filter(has_text="机关第一党支部")).to_have_count(1)
    # Apache ECharts came from the package, nothing from elsewhere.
    charts = [u for u in scripts if "echarts" in u]
    assert charts and all(u.startswith(f"{server.url}/map/static/vendor/echarts/") for u in charts)
    assert s.errors == []
    # The statistics as a spreadsheet.
    with page.expect_download() as download:
        page.click("#pm-stats-xlsx")
    book = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes()))
    cells = {c for r in book.active.iter_rows(values_only=True) for c in r if c is not None}
    assert "机关第一党支部" in cells
    # The period report workbook: a summary row per organisation, the meetings, a sheet each.
    with page.expect_download() as download:
        page.click("#pm-period-workbook")
    book = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes()))
    assert book.sheetnames[:2] == ["汇总", "会议一览"] and len(book.sheetnames) >= 3
    summary = [r for r in book["汇总"].iter_rows(values_only=True) if any(r)]
    assert any(r[0] == "机关第一党支部" for r in summary)
    listed = {c for r in book["会议一览"].iter_rows(values_only=True) for c in r if c}
    assert f"统计（{size}）" in listed


def test_alerts_badge_list_and_live(open_map: OpenMap, server: DemoServer) -> None:
    page = open_map("admin").page
    page.wait_for_function("partymap.live === true")
    badge = page.locator("#pm-alert-count")
    page.wait_for_function("document.getElementById('pm-alert-badge') !== null")
    before = call(server, "admin", "GET", "/alerts/counts")["total"]
    expect(badge).to_have_text(str(before) if before else "")
    # A meeting recorded below the threshold (most of the branch missing) raises an alert,
    # which reaches the open page on the live stream.
    ended_meeting(server, "出席率低的会议")
    low = page.locator("#pm-feed li.pm-feed-alert", has_text="出席率低")
    expect(low).not_to_have_count(0, timeout=15_000)
    page.wait_for_timeout(1500)  # the badge asks the API again a second after the last alert
    after = call(server, "admin", "GET", "/alerts/counts")["total"]
    assert after > before
    expect(badge).to_have_text(str(after))
    badge.click()
    listed = page.locator("#pm-alert-list li[data-kind=low_attendance]")
    expect(listed.first).to_contain_text("机关第一党支部")
    expect(page.locator("#pm-alert-list li")).to_have_count(
        call(server, "admin", "GET", "/alerts/counts")["total"]
    )


def test_a_members_attendance_history(open_map: OpenMap, server: DemoServer) -> None:
    ended_meeting(server, "历史记录")
    page = open_map("branch", size="phone").page
    page.evaluate(f"partymap.selectMember({server.prepared.seeded.members['吴婷']})")
    history = page.locator("#pm-history-list li")
    expect(history.filter(has_text="历史记录")).to_have_count(1)
    expect(history.first).to_contain_text("北京时间")


def test_the_big_screen_runs_on_a_display_token(
    open_map: OpenMap, browser: Browser, server: DemoServer
) -> None:
    page = open_map("admin").page
    page.click("#pm-open-screen")
    page.fill("#pm-screen-name", "机关党群活动中心大屏")
    page.select_option("#pm-screen-org", label="机关党总支")
    page.click("#pm-screen-dialog button[type=submit]")
    token = page.input_value("#pm-screen-token")
    assert token.startswith("pmd_")
    page.click("#pm-screen-here")
    page.wait_for_url(re.compile(r"screen=1"))
    expect(page.locator("#pm-screen-name")).to_have_text("机关党总支")

    # Another browser, with the token and no login at all: no login prompt, it rotates.
    display = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    display.add_init_script(f"localStorage.setItem('partymap_display', '{token}')")
    screen = display.new_page()
    try:
        screen.goto(f"{server.url}/map?screen=1&rotate=3")
        screen.wait_for_selector("body[data-ready='1']", timeout=15_000)
        expect(screen.locator("#pm-login")).to_be_hidden()
        expect(screen.locator("#pm-side")).to_be_hidden()
        expect(screen.locator("#pm-screen-clock")).to_contain_text("北京时间")
        screen.wait_for_function("partymap.screenView === 'today'", timeout=15_000)
        demo = "支部党员大会：学习党章，交流项目党建"
        meeting = screen.locator(".pm-screen-meeting", has_text=demo)
        expect(meeting).to_contain_text("机关党员活动室")
        expect(meeting.locator(".pm-screen-roll li")).to_have_count(10)
        screen.wait_for_function("partymap.screenView === 'stats'", timeout=15_000)
        bars = screen.locator("#pm-screen-orgs svg text").all_text_contents()
        assert "机关第一党支部" in bars
        screen.wait_for_function("partymap.screenView === 'map'", timeout=15_000)
        box = screen.locator(".folium-map").bounding_box()
        assert box is not None and box["width"] == 1920
        # Outside its subtree the display sees nothing: the shield worksite's branch is not in it.
        assert "盾构工区党支部" not in screen.locator("body").inner_text()
    finally:
        display.close()


def test_the_big_screen_redraws_from_its_live_stream(browser: Browser, server: DemoServer) -> None:
    """regression: the big screen polled every 10 s because a display token opened no live
    stream; now a check-in in its subtree redraws today's meetings at once."""
    made = call(server, "admin", "POST", "/display-tokens",
                json={"name": "直播大屏", "org_id": server.orgs.get("机关党总支")
                      or server.prepared.seeded.orgs["hq"]})  # fmt: skip
    display = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    display.add_init_script(f"localStorage.setItem('partymap_display', '{made['token']}')")
    screen = display.new_page()
    asked: list[str] = []
    screen.on("request", lambda r: asked.append(r.url) if "/display/" in r.url else None)
    try:
        screen.goto(f"{server.url}/map?screen=1&rotate=600")  # no rotation while we look
        screen.wait_for_selector("body[data-ready='1']", timeout=15_000)
        screen.wait_for_function("partymap.screenLive && partymap.screenLive.open", timeout=15_000)
        screen.click("#pm-screen-next")
        screen.wait_for_function("partymap.screenView === 'today'", timeout=15_000)
        before = sum("/display/meetings/today" in u for u in asked)
        member = server.prepared.seeded.members["张伟"]  # 机关第一党支部, inside the screen's
        server.live.publish({"type": "checkin", "member_id": member, "org_path": "/",
                             "site_id": 1, "time": "2026-05-01T08:00:00+00:00"})  # fmt: skip
        screen.wait_for_function("partymap.screenLive.events >= 1", timeout=5_000)
        # Redrawn within seconds, not at the next 10 s poll (there is none while live).
        deadline = 5_000
        screen.wait_for_timeout(200)
        while sum("/display/meetings/today" in u for u in asked) == before and deadline > 0:
            screen.wait_for_timeout(200)
            deadline -= 200
        assert sum("/display/meetings/today" in u for u in asked) > before
        assert any(u.endswith("/display/stream") for u in asked)
    finally:
        display.close()
