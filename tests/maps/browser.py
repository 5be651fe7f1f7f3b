"""The dashboard in a real browser: Debian's Chromium driven by Playwright, headless, at a
desktop's 1440×900 and a phone's 390×844 (touch, mobile viewport).

The server is the real app on the demo organisation, its history logs replayed through the
ingestion daemon first; one server serves every browser test of the session (Chromium is
started per module). Requests leaving 127.0.0.1 are refused, except map tiles, which get a
blank image (so a tile layer works offline without pretending that a tile server answered
anything but blank squares).
"""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from api.app import create_app
from devkit.services import free_port
from partymap.chromium import launch
from partymap.demo.run import Prepared, demo_settings, prepare, replay_history
from partymap.meeting_task import MeetingTask
from partymap.seed import ORGS
from partymap.settings import Settings
from store.live import LiveFeed

BLANK_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
TILE_HOSTS = re.compile(r"tile\.openstreetmap\.org|autonavi\.com|tianditu\.gov\.cn")
DESKTOP = {"viewport": {"width": 1440, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
SIZES = {"desktop": DESKTOP, "phone": PHONE}


@dataclass
class DemoServer:
    url: str
    prepared: Prepared
    live: LiveFeed
    passwords: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)  # login → bearer token, made once
    orgs: dict[str, int] = field(default_factory=dict)  # name → id, the demo's and tests' own

    def token(self, login: str) -> str:
        if login not in self.tokens:
            answer = httpx.post(
                f"{self.url}/api/v1/auth/token",
                data={"username": login, "password": self.passwords[login]},
            )
            answer.raise_for_status()
            self.tokens[login] = answer.json()["access_token"]
        return self.tokens[login]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    work = tmp_path_factory.mktemp("demo")
    # Attendance is recorded 3 s after a meeting ends (the demo waits a quarter of an hour).
    settings = demo_settings(
        Settings(environment="development"),
        work,
        port=free_port(),
        tiles="none",
        meetings_record_grace_seconds=3.0,
        meetings_tick_seconds=1.0,
    )
    prepared = prepare(settings, now=datetime.now(UTC), lead=timedelta(0))
    live = LiveFeed()

    async def history() -> None:
        daemon = await replay_history(prepared, live)
        assert daemon.failure is None, daemon.failure

    off_the_loop(history())
    app = create_app(settings, engine=prepared.engine, live=live)
    uv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, name="map-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    passwords = {login.username: login.password for login in prepared.seeded.logins}
    stop = threading.Event()

    async def meeting_task() -> None:
        """The meeting task as ``partymap serve`` runs it: records at the end, plans, alerts."""
        task = asyncio.ensure_future(MeetingTask(settings, prepared.engine, live).run())
        while not stop.is_set():
            await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    tasks = threading.Thread(target=asyncio.run, args=(meeting_task(),), name="meeting-task")
    tasks.start()
    try:
        served = DemoServer(f"http://127.0.0.1:{settings.port}", prepared, live, passwords)
        served.orgs.update({o.name: prepared.seeded.orgs[o.key] for o in ORGS})
        yield served
    finally:
        stop.set()
        tasks.join(15)
        uv.should_exit = True
        thread.join(15)
        prepared.engine.dispose()


# Per module: Playwright's synchronous API keeps an event loop running on the main thread while
# it is open, and tests elsewhere that start their own (asyncio.run) must not find one.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@dataclass
class Session:
    page: Page
    context: BrowserContext
    tiles: list[str]  # tile URLs the page asked for
    errors: list[str]  # uncaught script errors


OpenMap = Callable[..., Session]


@pytest.fixture
def open_map(browser: Browser, server: DemoServer) -> Iterator[OpenMap]:
    """Opens the dashboard as someone, at ``size`` ("desktop" or "phone"); logged in through
    the page's form with ``form=True``, else with a login made once per session (its cookie
    and this tab's token); not at all for ``login=None``. The pages close with the test: no
    stray requests or live streams reach the next one."""
    contexts: list[BrowserContext] = []

    def open_as(
        login: str | None,
        lang: str = "zh-CN",
        *,
        size: str = "desktop",
        form: bool = False,
        ready: bool = True,
        timezone_id: str = "Europe/London",
    ) -> Session:
        # A browser away from the sites' zone: times at a site must still read in the site's.
        context = browser.new_context(**SIZES[size], timezone_id=timezone_id, locale=lang)
        contexts.append(context)
        if login is not None and not form:
            token = server.token(login)
            context.add_cookies(
                [{"name": "partymap_token", "value": token, "url": server.url, "httpOnly": True,
                  "sameSite": "Strict"}]
            )  # fmt: skip
            context.add_init_script(f"sessionStorage.setItem('partymap_token', '{token}')")
        page = context.new_page()
        session = Session(page, context, [], [])
        page.on("pageerror", lambda error: session.errors.append(str(error)))

        def outside(route: Route) -> None:
            if TILE_HOSTS.search(route.request.url):
                session.tiles.append(route.request.url)
                route.fulfill(status=200, content_type="image/png", body=BLANK_PNG)
            else:
                route.abort()

        page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), outside)
        page.goto(f"{server.url}/map?lang={lang}")
        if login is not None and form:
            page.fill("#pm-login input[name=username]", login)
            page.fill("#pm-login input[name=password]", server.passwords[login])
            page.click("#pm-login button[type=submit]")
        if ready and login is not None:
            page.wait_for_selector("body[data-ready='1']", timeout=15_000)
        return session

    yield open_as
    for context in contexts:
        context.close()


def off_the_loop(work: Coroutine[object, object, None]) -> None:
    """Run ``work`` to the end on an event loop of its own: Playwright's runs on this thread."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work).result()


def open_branch(page: Page, general: str, branch: str) -> None:
    """Unfold ``general`` in the tree and click ``branch`` (opening the sheet on a phone)."""
    if page.evaluate("document.body.dataset.sheet === 'closed'"):
        page.click("#pm-tabs [data-tab=orgs]")
    page.click(f".pm-node-row:has(a:text-is('{general}')) .pm-toggle")
    page.click(f"a.pm-org-link:text-is('{branch}')")
