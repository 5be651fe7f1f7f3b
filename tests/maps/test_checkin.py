"""Members check in from their phones, in Chromium at a phone's 390×844 with its position set:
from inside the room (counted), from outside (not), with a mocked accuracy (refused, the rule
named); and with the meeting's QR code, read back from the secretary's screen with zxing-cpp
and opened on the member's phone before logging in. The server is tests/maps/browser.py's."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import zxingcpp
from playwright.sync_api import Browser, Page, expect
from shapely.geometry import Point
from sqlalchemy.orm import Session

from api import qrcode
from geo.model import EvidencePolicy, SiteKind
from store import checkins, members, orgs, sites
from store.models import OrgKind, Role
from store.qr import current_key
from store.users import create_user
from tests.maps.browser import PHONE, DemoServer, OpenMap
from tests.maps.test_workflow import call, open_meeting

pytestmark = pytest.mark.browser


def branch(
    server: DemoServer, people: list[str], policy: EvidencePolicy | None
) -> tuple[int, int, tuple[float, float], dict[str, str]]:
    """A branch with a meeting room of its own (a 20 m circle away from the demo's sites) and
    members who may log in: (org, site, (lat, lon) of the room, login by name)."""
    seeded = server.prepared.seeded
    lat, lon = 30.60, 114.30 + secrets.randbelow(10_000) * 1e-5
    logins = {}
    with Session(server.prepared.engine) as db:
        name = f"扫码支部-{secrets.token_hex(3)}"
        org = orgs.create_organisation(
            db, name=name, kind=OrgKind.BRANCH, parent_id=seeded.orgs["hq"], code=None
        )
        room = sites.create_site(
            db,
            org_id=org.id,
            name=f"{name}会议室",
            geometry=Point(lon, lat),
            radius_m=20.0,
            kind=SiteKind.MEETING_ROOM,
        )
        checkins.set_site_policy(db, site_id=room.id, policy=policy)
        for person in people:
            member = members.create_member(db, org_id=org.id, name=person, code=None)
            login, password = f"m-{secrets.token_hex(4)}", secrets.token_urlsafe(9)
            create_user(
                db,
                username=login,
                password=password,
                role=Role.MEMBER,
                org_id=org.id,
                member_id=member.id,
            )
            server.passwords[login] = password
            logins[person] = login
        db.commit()
        server.orgs[name] = org.id
    return org.id, room.id, (lat, lon), logins


def live_meeting(server: DemoServer, org_id: int, site_id: int, title: str) -> int:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    body = {
        "org_id": org_id,
        "site_id": site_id,
        "kind": "PARTY_LECTURE",
        "title": title,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }
    made: int = call(server, "admin", "POST", "/meetings", json=body)["id"]
    return made


def phone_page(
    browser: Browser, server: DemoServer, where: tuple[float, float], accuracy: float
) -> Page:
    """A phone whose browser says it is at ``where`` with this accuracy (a fresh one: nothing
    stored, so it is a new phone for whoever logs in)."""
    context = browser.new_context(
        **PHONE,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"latitude": where[0], "longitude": where[1], "accuracy": accuracy},
        permissions=["geolocation"],
    )
    page = context.new_page()
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    return page


def log_in(page: Page, server: DemoServer, login: str) -> None:
    page.fill("#pm-login input[name=username]", login)
    page.fill("#pm-login input[name=password]", server.passwords[login])
    page.click("#pm-login button[type=submit]")


def line(server: DemoServer, meeting_id: int, name: str) -> dict[str, Any]:
    roll = call(server, "admin", "GET", f"/meetings/{meeting_id}/attendance")["items"]
    found: dict[str, Any] = next(x for x in roll if x["name"] == name)
    return found


def test_a_member_checks_in_with_the_phones_position(browser: Browser, server: DemoServer) -> None:
    org, room, (lat, lon), logins = branch(server, ["孙丽", "赵强", "钱程"], EvidencePolicy.ANY)
    meeting = live_meeting(server, org, room, "手机签到党课")
    cases = [
        ("孙丽", (lat, lon), 8.0, "已签到 · 手机定位"),
        ("赵强", (lat + 0.01, lon), 8.0, "outside the meeting's site"),  # 1.1 km north
        ("钱程", (lat, lon), 0.0, "implausible_accuracy"),  # what location mockers send
    ]
    for name, where, accuracy, said in cases:
        page = phone_page(browser, server, where, accuracy)
        page.goto(f"{server.url}/m/?lang=zh-CN")
        log_in(page, server, logins[name])
        expect(page.locator("#pm-phone")).to_contain_text("本机已绑定")
        expect(page.locator("#pm-phone")).to_contain_text("不在后台跟踪")
        button = page.locator(f"#pm-now [data-meeting='{meeting}'] .pm-checkin")
        button.click()
        expect(page.locator("#pm-toast")).to_contain_text(said, timeout=15_000)
        page.context.close()
    assert (line(server, meeting, "孙丽")["status"], line(server, meeting, "孙丽")["evidence"]) == (
        "present",
        "phone",
    )
    assert line(server, meeting, "赵强")["status"] == "pending"
    assert line(server, meeting, "钱程")["status"] == "pending"


def read_qr(page: Page) -> str:
    """The text of the QR code the page shows, decoded from its pixels with zxing-cpp."""
    page.bring_to_front()
    now = qrcode.step_of(time.time())
    page.wait_for_function(
        f"() => Number((document.getElementById('pm-qr-image') || {{dataset: {{}}}}).dataset.step)"
        f" >= {now}",
        timeout=45_000,
    )
    pixels = page.evaluate(
        """async () => {
          const img = document.getElementById("pm-qr-image");
          await img.decode();  // the image of the src just set, not the one before it
          const canvas = document.createElement("canvas");
          canvas.width = img.naturalWidth * 2;
          canvas.height = img.naturalHeight * 2;
          const ctx = canvas.getContext("2d");
          ctx.fillStyle = "#fff";
          ctx.fillRect(0, 0, canvas.width, canvas.height);
          ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
          const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          return { w: canvas.width, h: canvas.height, data: Array.from(data) };
        }"""
    )
    rgba = np.array(pixels["data"], dtype=np.uint8).reshape(pixels["h"], pixels["w"], 4)
    grey = rgba[:, :, :3].mean(axis=2).astype(np.uint8)
    found = zxingcpp.read_barcodes(grey)
    assert len(found) == 1, "one QR code on the screen"
    text: str = found[0].text
    return text


def test_the_meetings_code_checks_a_member_in_after_logging_in(
    browser: Browser, server: DemoServer, open_map: OpenMap
) -> None:
    org, room, where, logins = branch(server, ["李娜"], None)  # a meeting room: beidou_or_qr
    meeting = live_meeting(server, org, room, "扫码签到支部大会")
    screen = open_map("admin", size="desktop").page
    open_meeting(screen, meeting)
    screen.click("#pm-show-code")
    url = read_qr(screen)
    assert url.startswith(f"{server.url}/m/?meeting={meeting}&step=")

    phone = phone_page(browser, server, where, 12.0)
    # A screenshot forwarded a minute later: refused, and said so.
    with Session(server.prepared.engine) as db:
        key = current_key(db)
    old = qrcode.step_of(time.time()) - 2
    phone.goto(qrcode.checkin_url(server.url, meeting, old, qrcode.code_for(key, meeting, old)))
    phone.bring_to_front()
    log_in(phone, server, logins["李娜"])
    expect(phone.locator("#pm-toast")).to_contain_text("expired", timeout=15_000)
    assert line(server, meeting, "李娜")["status"] == "pending"
    # The code on the screen now: checked in.
    fresh = read_qr(screen)
    phone.bring_to_front()
    phone.goto(fresh)
    expect(phone.locator("#pm-toast")).to_contain_text("扫码签到成功 · 扫码", timeout=15_000)
    expect(phone.locator(f"#pm-now [data-meeting='{meeting}'] .pm-done")).to_contain_text("扫码")
    got = line(server, meeting, "李娜")
    assert (got["status"], got["evidence"]) == ("present", "qr")
    # The secretary's roll shows the evidence.
    screen.click("#pm-qr-close")
    open_meeting(screen, meeting)
    expect(
        screen.locator("#pm-roll li", has_text="李娜").locator("[data-evidence=qr]")
    ).to_have_text("扫码签到")
    phone.context.close()


def test_offline_the_page_opens_and_a_check_in_waits_with_its_own_time(
    browser: Browser, server: DemoServer
) -> None:
    org, room, where, logins = branch(server, ["周敏"], EvidencePolicy.ANY)
    meeting = live_meeting(server, org, room, "离线签到党课")
    page = phone_page(browser, server, where, 9.0)
    page.goto(f"{server.url}/m/")
    log_in(page, server, logins["周敏"])
    expect(page.locator("#pm-phone")).to_contain_text("本机已绑定")
    # The installed app: its manifest and a service worker holding the shell.
    manifest = page.evaluate("() => fetch('/m/manifest.webmanifest').then((r) => r.json())")
    assert manifest["display"] == "standalone" and len(manifest["icons"]) >= 2
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.context.set_offline(True)
    # The page learns of it through an event: click only once it knows, as a member would.
    page.wait_for_function("() => navigator.onLine === false")
    before = datetime.now(UTC)
    page.locator(f"#pm-now [data-meeting='{meeting}'] .pm-checkin").click()
    expect(page.locator("#pm-toast")).to_contain_text("签到已保存", timeout=15_000)
    page.reload()  # no connection: the shell comes from the service worker
    expect(page.locator("h1")).to_have_text("党员签到")
    expect(page.locator("#pm-net")).to_have_text("离线")
    assert line(server, meeting, "周敏")["status"] == "pending"
    time.sleep(2)
    back = datetime.now(UTC)
    page.context.set_offline(False)
    expect(page.locator("#pm-toast")).to_contain_text("离线签到已发送", timeout=15_000)
    got = line(server, meeting, "周敏")
    assert (got["status"], got["evidence"]) == ("present", "phone")
    # Timed when the phone took its position, not when the check-in reached the server.
    assert before - timedelta(seconds=5) <= datetime.fromisoformat(got["first_checkin"]) < back
    page.context.close()
