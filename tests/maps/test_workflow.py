"""The secretary's 三会一课 workflow in the dashboard, at a desktop's and a phone's size: schedule
a meeting and a recurring plan, record leave and approve a member's request, watch attendance
live until the end and see it recorded, correct a member (补签), and download the attendance as
XLSX (checked with openpyxl). The server and pages are tests/maps/browser.py's; meetings the
tests need beforehand are made through the API, as another secretary would."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from store import devices, members, orgs
from store.db import make_sessionmaker
from store.models import OrgKind, Role
from store.users import create_user
from tests.maps.browser import DemoServer, OpenMap
from tests.maps.test_browser import replay, walk_into_room

pytestmark = pytest.mark.browser

SIZES = ["desktop", "phone"]
WUHAN = ZoneInfo("Asia/Shanghai")


def call(server: DemoServer, login: str, method: str, path: str, **kwargs: Any) -> Any:
    """The API as ``login``; the answer's JSON (None for 204)."""
    answer = httpx.request(
        method,
        f"{server.url}/api/v1{path}",
        headers={"Authorization": f"Bearer {server.token(login)}"},
        timeout=30,
        **kwargs,
    )
    assert answer.is_success, answer.text
    return answer.json() if answer.content else None


def meeting(
    server: DemoServer,
    *,
    start: datetime,
    end: datetime,
    title: str,
    org: str = "机关第一党支部",
    login: str = "branch",
) -> int:
    """A branch general meeting in 机关第一党支部's activity room, made through the API."""
    seeded = server.prepared.seeded
    body = {
        "org_id": server.orgs[org],
        "site_id": seeded.sites["room"],
        "kind": "BRANCH_GENERAL_MEETING",
        "title": title,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "late_grace_s": 60,
    }
    made: int = call(server, login, "POST", "/meetings", json=body)["id"]
    return made


def open_meeting(page: Page, meeting_id: int) -> None:
    page.click("#pm-tabs [data-tab=meetings]")
    page.evaluate(f"partymap.selectMeeting({meeting_id})")
    expect(page.locator("#pm-meeting h2")).to_be_visible()


def row(page: Page, name: str) -> Any:
    return page.locator("#pm-roll li", has_text=name)


@pytest.mark.parametrize("size", SIZES)
def test_a_secretary_schedules_edits_and_cancels_a_meeting(open_map: OpenMap, size: str) -> None:
    page = open_map("branch", size=size).page
    page.click("#pm-tabs [data-tab=meetings]")
    page.click("#pm-new-meeting")
    form = page.locator("#pm-meeting-form")
    expect(form).to_be_visible()
    # The branch secretary's own branch and its room are offered first; times are Wuhan's.
    expect(page.locator("#pm-f-org option:checked")).to_have_text("机关第一党支部")
    expect(page.locator("#pm-f-site option:checked")).to_have_text("机关党员活动室")
    expect(page.locator("#pm-f-zone")).to_have_text("北京时间")
    day = (datetime.now(WUHAN) + timedelta(days=3)).date().isoformat()
    title = f"支委会：研究发展党员工作（{size}）"
    page.select_option("#pm-f-kind", "BRANCH_COMMITTEE_MEETING")
    page.fill("#pm-f-date", day)
    page.fill("#pm-f-start", "15:00")
    page.fill("#pm-f-end", "16:30")
    page.fill("#pm-f-title", title)
    page.fill("#pm-f-topic", "讨论入党积极分子培养")
    page.select_option("#pm-f-host", label="张伟")
    page.select_option("#pm-f-recorder", label="王芳")
    form.locator("button[type=submit]").click()
    panel = page.locator("#pm-meeting")
    expect(panel.locator("h2")).to_contain_text(title)
    expect(panel.locator(".pm-when")).to_contain_text(f"{day[5:]} 15:00–16:30 北京时间")
    expect(panel).to_contain_text("主持人: 张伟")
    expect(panel).to_contain_text("记录人: 王芳")
    expect(page.locator("#pm-meeting-status")).to_have_text("未开始")
    # Edited: half an hour longer.
    page.click("#pm-edit-meeting")
    expect(page.locator("#pm-f-start")).to_have_value("15:00")
    page.fill("#pm-f-end", "17:00")
    page.locator("#pm-meeting-form button[type=submit]").click()
    expect(panel.locator(".pm-when")).to_contain_text("15:00–17:00 北京时间")
    # The history finds it in its date range.
    panel.locator(".pm-back").click()
    page.fill("#pm-range-from", day)
    page.fill("#pm-range-to", day)
    page.click("#pm-range button[type=submit]")
    listed = page.locator("#pm-meeting-list li", has_text=title)
    expect(listed).to_contain_text("15:00 北京时间")
    listed.click()
    # Cancelled, with a reason: kept, marked so.
    page.click("#pm-cancel-meeting")
    page.fill("#pm-f-reason", "书记外出学习，改期举行")
    page.locator("#pm-cancel-form button[type=submit]").click()
    expect(page.locator("#pm-meeting-status")).to_have_text("已取消")
    expect(panel).to_contain_text("书记外出学习，改期举行")
    expect(page.locator("#pm-edit-meeting")).to_have_count(0)


@pytest.mark.parametrize("size", SIZES)
def test_a_recurring_plan_schedules_its_meetings(open_map: OpenMap, size: str) -> None:
    page = open_map("branch", size=size).page
    page.click("#pm-tabs [data-tab=meetings]")
    page.click("#pm-open-plans")
    page.click("#pm-new-plan")
    page.select_option("#pm-p-kind", "BRANCH_COMMITTEE_MEETING")
    page.select_option("#pm-p-frequency", "monthly")
    page.select_option("#pm-p-nth", "1")
    page.select_option("#pm-p-weekday", "1")  # Tuesday
    page.fill("#pm-p-time", "15:00")
    page.fill("#pm-p-title", f"月度支委会（{size}）")
    page.locator("#pm-plan-form button[type=submit]").click()
    plan = page.locator("#pm-plan-list li", has_text=f"月度支委会（{size}）")
    expect(plan).to_contain_text("每月第一个星期二 15:00 北京时间")
    next_text = plan.locator(".pm-note").inner_text()
    assert next_text.endswith("15:00 北京时间")
    # Its next meetings fall on first Tuesdays.
    dates = [d.strip().split(" ")[0] for d in next_text.split(":", 1)[1].split(",")]
    today = datetime.now(WUHAN).date()
    assert dates
    for md in dates:
        month, day = map(int, md.split("-"))
        when = today.replace(year=today.year + (month < today.month), month=month, day=day)
        assert when.weekday() == 1 and when.day <= 7 and when >= today, md
    plan.locator(".pm-stop-plan").click()
    expect(plan).to_contain_text("已停止")


@pytest.mark.parametrize("size", SIZES)
def test_leave_recorded_and_a_request_approved(
    open_map: OpenMap, server: DemoServer, size: str
) -> None:
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    made = meeting(server, start=soon, end=soon + timedelta(hours=1), title=f"请假登记（{size}）")
    # 周杰 asks for leave himself, in the dashboard as a member.
    seeded = server.prepared.seeded
    login, password = f"zhoujie-{size}", secrets.token_urlsafe(9)
    with writer(server) as db:
        create_user(
            db, username=login, password=password, role=Role.MEMBER,
            member_id=seeded.members["周杰"],
        )  # fmt: skip
        db.commit()
    server.passwords[login] = password
    mine = open_map(login, size=size).page
    open_meeting(mine, made)
    expect(mine.locator("#pm-roll li")).to_have_count(1)  # a member sees their own line only
    expect(mine.locator("#pm-record-leave")).to_have_count(0)
    mine.click("#pm-ask-leave")
    mine.fill("#pm-f-reason", "赴项目部出差")
    mine.locator("#pm-leave-form button[type=submit]").click()
    expect(row(mine, "周杰")).to_contain_text("请假待批: 赴项目部出差")

    page = open_map("branch", size=size).page
    page.click("#pm-tabs [data-tab=meetings]")
    request = page.locator("#pm-requests li", has_text="周杰").filter(
        has_text=f"请假登记（{size}）"
    )
    expect(request).to_contain_text("赴项目部出差")
    request.locator(".pm-approve").click()
    expect(request).to_have_count(0)
    open_meeting(page, made)
    expect(row(page, "周杰")).to_have_attribute("data-outcome", "excused")
    expect(row(page, "周杰")).to_contain_text("已请假: 赴项目部出差")
    # The secretary records 刘洋's leave herself.
    page.click("#pm-record-leave")
    page.select_option("#pm-f-member", label="刘洋")
    page.fill("#pm-f-reason", "病假")
    page.locator("#pm-leave-form button[type=submit]").click()
    expect(row(page, "刘洋")).to_have_attribute("data-outcome", "excused")
    expect(row(page, "刘洋")).to_contain_text("已请假: 病假")
    expect(page.locator("#pm-attendance-counts [data-outcome=excused]")).to_have_text("请假 2")


def writer(server: DemoServer) -> Session:
    """A session of the test's own that writes after reading: it begins as a writer, or the
    meeting task's commits in between would fail it on SQLite ("database is locked")."""
    return make_sessionmaker(server.prepared.engine, immediate=True)()


def new_branch(server: DemoServer, name: str, people: list[str]) -> dict[str, str]:
    """A branch under 机关党总支 whose members have receivers that never reported: their
    device uids by name. (The demo's own members may already sit in the room from another
    test: the server is shared.)"""
    seeded = server.prepared.seeded
    uids = {}
    with writer(server) as db:
        org = orgs.create_organisation(
            db, name=name, kind=OrgKind.BRANCH, parent_id=seeded.orgs["hq"], code=None
        )
        for person in people:
            member = members.create_member(db, org_id=org.id, name=person, code=None)
            uid = f"test-{secrets.token_hex(6)}"
            devices.create_device(db, uid=uid, member_id=member.id, name=person)
            uids[person] = uid
        db.commit()
        server.orgs[name] = org.id
    return uids


@pytest.mark.parametrize("size", SIZES)
def test_attendance_unfolds_live_and_turns_absent_at_the_end(
    open_map: OpenMap, server: DemoServer, size: str
) -> None:
    """A member's receiver walks into the room during the meeting: her row turns from 未到 to
    present over the live stream; at the end the one still missing becomes 缺席."""
    branch = f"现场党支部（{size}）"
    uids = new_branch(server, branch, [f"甲{size}", f"乙{size}"])
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(seconds=20)
    made = meeting(
        server, start=now - timedelta(minutes=1), end=end, title=branch, org=branch, login="admin"
    )
    page = open_map("admin", size=size).page
    page.wait_for_function("partymap.live === true")
    open_meeting(page, made)
    expect(page.locator("#pm-meeting-status")).to_have_text("进行中")
    walker, away = row(page, f"甲{size}"), row(page, f"乙{size}")
    for r in (walker, away):
        expect(r).to_have_attribute("data-outcome", "pending")
        expect(r).to_contain_text("未到")
    log = server.prepared.settings.data_dir / f"walk-in-{size}.nmea"
    log.write_bytes(walk_into_room(datetime.now(UTC)))
    replay(server, log, uids[f"甲{size}"])
    expect(walker).to_have_attribute("data-outcome", "present", timeout=15_000)
    expect(walker.locator(".pm-time")).to_contain_text("北京时间")
    expect(away).to_have_attribute("data-outcome", "pending")
    # The end: nobody is 未到 any more, the one missing is 缺席.
    wait_ms = ((end - datetime.now(UTC)).total_seconds() + 15) * 1000
    expect(page.locator("#pm-meeting-status")).to_have_text("已结束", timeout=wait_ms)
    expect(away).to_have_attribute("data-outcome", "absent")
    expect(away).to_contain_text("缺席")
    expect(walker).to_have_attribute("data-outcome", "present")
    expect(page.locator("#pm-attendance-counts [data-outcome=absent]")).to_have_text("缺席 1")
    # Recorded by itself a few seconds later (the server's grace is 3 s), and told live.
    expect(page.locator("#pm-meeting-status")).to_have_text("已记录", timeout=15_000)
    expect(page.locator("#pm-recorded")).to_contain_text("北京时间")
    expect(page.locator("#pm-attendance-summary")).to_contain_text("应到 2 · 实到 1")
    expect(page.locator("#pm-attendance-summary")).to_contain_text("出席率 50%")
    expect(page.locator("#pm-feed li.pm-feed-meeting", has_text=branch)).not_to_have_count(0)


def ended_meeting(server: DemoServer, title: str) -> int:
    """A meeting of an hour that ended an hour ago, its attendance recorded."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    made = meeting(server, start=start, end=start + timedelta(hours=1), title=title)
    call(server, "branch", "POST", f"/meetings/{made}/attendance")
    return made


@pytest.mark.parametrize("size", SIZES)
def test_a_member_is_corrected_after_the_meeting(
    open_map: OpenMap, server: DemoServer, size: str
) -> None:
    made = ended_meeting(server, f"补签（{size}）")
    page = open_map("branch", size=size).page
    open_meeting(page, made)
    expect(page.locator("#pm-meeting-status")).to_have_text("已记录")
    expect(page.locator("#pm-recorded")).to_contain_text("北京时间")
    wu = row(page, "吴婷")
    expect(wu).to_have_attribute("data-outcome", "absent")
    wu.locator(".pm-correct").click()
    expect(page.locator("#pm-correction-form")).to_contain_text("当前状态: 缺席")
    page.select_option("#pm-f-status", "present")
    page.fill("#pm-f-reason", "定位终端故障，现场签到表为证")
    page.locator("#pm-correction-form button[type=submit]").click()
    expect(wu).to_have_attribute("data-outcome", "present")
    expect(wu.locator(".pm-manual")).to_have_text("人工补签")
    expect(wu).to_contain_text("补签: 缺席 → 按时出席 · 定位终端故障，现场签到表为证 (branch)")
    # The correction is audited with who, old → new and why.
    audit = call(server, "admin", "GET", "/audit", params={"action": "correct_attendance"})
    mine = [e for e in audit["items"] if e["detail"].get("meeting_id") == made]
    assert mine and mine[0]["actor"] == "branch"
    assert (mine[0]["detail"]["old"], mine[0]["detail"]["new"]) == ("absent", "present")


@pytest.mark.parametrize("size", SIZES)
def test_the_attendance_downloads_as_xlsx(open_map: OpenMap, server: DemoServer, size: str) -> None:
    title = f"导出（{size}）"
    made = ended_meeting(server, title)
    wu = server.prepared.seeded.members["吴婷"]
    body = {"member_id": wu, "status": "late", "reason": "迟到十分钟，签到表为证"}
    call(server, "branch", "POST", f"/meetings/{made}/corrections", json=body)
    page = open_map("branch", size=size).page
    open_meeting(page, made)
    expect(row(page, "吴婷")).to_have_attribute("data-outcome", "late")
    with page.expect_download() as download:
        page.click("#pm-export-xlsx")
    assert download.value.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes()))
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    facts = {r[0]: r[1] for r in rows[:10]}
    local = datetime.now(UTC) - timedelta(hours=2)
    assert facts["会议名称"] == title and facts["会议类型"] == "支部党员大会"
    assert facts["组织"] == "机关第一党支部" and facts["地点"] == "机关党员活动室"
    assert facts["时区"] == "Asia/Shanghai" and facts["状态"] == "已记录"
    assert facts["日期"] in {(local + timedelta(minutes=m)).astimezone(WUHAN).date().isoformat()
                            for m in (-5, 5)}  # fmt: skip
    top = rows.index(next(r for r in rows if r[:3] == ["党员编号", "姓名", "出勤情况"]))
    header = rows[top]
    lines = rows[top + 1 : rows.index([None] * len(header), top)]
    by_name = {r[1]: dict(zip(header, r, strict=True)) for r in lines}
    assert len(by_name) == 10  # the branch's roll
    corrected = by_name["吴婷"]
    assert (corrected["出勤情况"], corrected["自动判定"], corrected["依据"]) == (
        "迟到", "缺席", "人工补签"
    )  # fmt: skip
    assert "缺席 → 迟到，迟到十分钟，签到表为证（branch" in corrected["补签记录"]
    summary = {r[0]: r[1] for r in rows[top + len(lines) + 2 :] if r[0]}
    attended = sum(r["出勤情况"] in ("按时出席", "迟到", "早退") for r in by_name.values())
    assert summary["应到"] == 10 and summary["实到"] == attended
    assert summary["出席率 %"] == round(attended / 10 * 100, 1)
