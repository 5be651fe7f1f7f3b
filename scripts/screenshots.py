"""The README's screenshots, made again from the demo: docs/screenshot.png (desktop, 1440×900)
and docs/screenshot-phone.png (390×844).

    .venv/bin/python scripts/screenshots.py [--out docs]

The demo organisation is seeded with its recorded morning placed so that the branch general
meeting started five minutes ago; every log is replayed through the ingestion daemon at once.
The branch secretary then records one member's leave (as she would on her phone) and the
dashboard is photographed in Debian's Chromium: the meeting's attendance as it unfolds, with
the workflow's actions, beside the map of the activity room as the committee sees it (desktop),
and in the secretary's phone, in its bottom sheet. Needs the test extras (Playwright) and a
Chinese font (fonts-noto-cjk).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from playwright.sync_api import sync_playwright

from api.app import create_app
from devkit.services import free_port
from partymap.chromium import launch
from partymap.demo.logs import LIVE
from partymap.demo.run import demo_settings, play_helmets, prepare, replay_history, replay_plan
from partymap.ingest.daemon import Daemon
from partymap.settings import Settings
from store.live import LiveFeed

ROOT = Path(__file__).resolve().parents[1]
# The live part of the logs runs eight minutes and the meeting starts four minutes in: this
# much earlier, the meeting is five minutes old and every fix of the logs is in the past.
SHIFT = timedelta(minutes=9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        settings = demo_settings(
            Settings(environment="development"), Path(work), port=free_port(), tiles="none"
        )
        prepared = prepare(settings, now=datetime.now(UTC) - SHIFT, lead=timedelta(0))
        live = LiveFeed()

        async def replay() -> None:
            await replay_history(prepared, live)
            plan = replay_plan(prepared.logs[LIVE], None)
            async with Daemon(settings, prepared.engine, plan, live=live, clock="stream") as d:
                await asyncio.gather(d.sources.done(), play_helmets(prepared, LIVE, d, paced=False))

        asyncio.run(replay())
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, engine=prepared.engine, live=live),
                host="127.0.0.1",
                port=settings.port,
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            url = f"http://127.0.0.1:{settings.port}"
            tokens = {}
            for login in prepared.seeded.logins:
                tokens[login.username] = httpx.post(
                    f"{url}/api/v1/auth/token",
                    data={"username": login.username, "password": login.password},
                ).json()["access_token"]
            meeting = prepared.seeded.meeting_id
            httpx.post(
                f"{url}/api/v1/meetings/{meeting}/leave",
                json={"member_id": prepared.seeded.members["周杰"], "reason": "赴项目部出差"},
                headers={"Authorization": f"Bearer {tokens['branch']}"},
            ).raise_for_status()
            photograph(url, tokens, meeting, args.out)
        finally:
            server.should_exit = True
            thread.join(15)
            prepared.engine.dispose()


def photograph(url: str, tokens: dict[str, str], meeting: int, out: Path) -> None:
    """The committee's desktop and the branch secretary's phone, on the meeting."""
    sizes = {
        "screenshot.png": {"viewport": {"width": 1440, "height": 900}},
        "screenshot-phone.png": {
            "viewport": {"width": 390, "height": 844},
            "device_scale_factor": 2,
            "is_mobile": True,
            "has_touch": True,
        },
    }
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for name, size in sizes.items():
            token = tokens["admin" if name == "screenshot.png" else "branch"]
            context = browser.new_context(**size, locale="zh-CN", timezone_id="Asia/Shanghai")
            context.add_cookies([{"name": "partymap_token", "value": token, "url": url}])
            context.add_init_script(f"sessionStorage.setItem('partymap_token', '{token}')")
            page = context.new_page()
            page.goto(f"{url}/map")
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            page.click("#pm-tabs [data-tab=meetings]")
            page.evaluate(f"partymap.selectMeeting({meeting})")
            page.wait_for_selector("#pm-roll li")
            page.wait_for_function("!partymap.map._animatingZoom")
            page.mouse.move(0, 0)  # no row lit up by a pointer hovering over it
            page.wait_for_timeout(1500)  # the view's members and the room's count
            page.screenshot(path=str(out / name))
            context.close()
            print(f"wrote {out / name}")
        browser.close()


if __name__ == "__main__":
    main()
