"""Map benchmark: the dashboard over 8,000 sites and 140,000 members in headless Chromium.

    python bench/map.py                       # PostGIS (throwaway cluster), full sizes
    python bench/map.py --backend spatialite  # the embedded default
    python bench/map.py --quick               # a tenth of the sizes, a smoke run

Builds the railway builder of ``bench/synth.py`` (8,000 organisations, 8,000 worksites at home
and abroad, 140,000 members with their latest positions), marks two members in five present
and one in twenty arriving at a site, serves the real app, and drives Debian's Chromium (never
a downloaded browser) through Playwright:

- first render: navigation start → organisation tree and the overview of the whole tree drawn
  (the page's own ``performance.now()``), and the bytes the browser received for it (Chrome's
  encoded lengths: headers and bodies, compressed as sent); tiles are "none" (offline), so no
  tile bytes are counted;
- click branch → members listed: a click on a branch in the tree until its members are in the
  list (in-page timing), for several branches.

Targets: first render < 2 s, < 5 MB; click → list < 300 ms. The machine is shared:
figures vary between runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

# Run as a script, this file's directory heads sys.path and a bench module could shadow a
# package: put the checkout first instead.
ROOT = Path(__file__).resolve().parents[1]
sys.path = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from api.app import create_app  # noqa: E402
from bench.synth import synthesize  # noqa: E402
from devkit.services import free_port, throwaway_postgis  # noqa: E402
from partymap.chromium import launch  # noqa: E402
from partymap.settings import Settings  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.migrations import upgrade  # noqa: E402
from store.models import Organisation, Role, SiteRow  # noqa: E402
from store.presence import PresenceRow, save_presence  # noqa: E402
from store.users import create_user  # noqa: E402

PASSWORD = "bench-password"


SITES, MEMBERS = 8_000, 140_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--backend", choices=["spatialite", "postgis"], default="postgis")
    parser.add_argument("--runs", type=int, default=4, help="page loads to measure")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    if args.backend == "postgis":
        with throwaway_postgis() as url:
            run("PostGIS", url, scale, args.runs)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run("SpatiaLite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}", scale, args.runs)


def run(label: str, url: str, scale: float, runs: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    branches = build(engine, scale, random.Random(7))
    built_s = time.perf_counter() - started
    print(
        f"{label}: {round(SITES * scale):,} sites, {round(MEMBERS * scale):,} members, "
        f"{round(8000 * scale):,} organisations built in {built_s:.0f} s"
    )
    with serving(engine, Path(tempfile.mkdtemp())) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        renders = [first_render(browser, base) for _ in range(runs)]
        clicks = click_branches(browser, base, branches[:6])
        browser.close()
    engine.dispose()
    first, warm = renders[0], renders[1:] or renders
    ms = statistics.median(r.ms for r in warm)
    mb = max(r.bytes for r in renders) / 1e6
    print(
        f"  first render: {ms:.0f} ms median over {len(warm)} loads in a fresh browser profile "
        f"(target < 2000 ms: {verdict(ms < 2000)}); the first load after the server started: "
        f"{first.ms:.0f} ms (the organisation read and the page built once)"
    )
    print(
        f"  transferred: {mb:.2f} MB at most, {first.requests} requests "
        f"(target < 5 MB: {verdict(mb < 5)}); DOM markers drawn: {first.markers}"
    )
    print(
        f"  click branch → members listed: median {statistics.median(clicks):.0f} ms, "
        f"max {max(clicks):.0f} ms over {len(clicks)} branches "
        f"(target < 300 ms: {verdict(statistics.median(clicks) < 300)})"
    )


def build(engine: Engine, scale: float, rng: random.Random) -> list[tuple[int, list[int]]]:
    """The customer, its members' presence at sites, a login; returns some branches with the
    ids of their ancestors (to open the tree down to them)."""
    now = datetime.now(UTC)
    customer = synthesize(engine, scale=scale, sites=SITES, members=MEMBERS, now=now)
    with Session(engine) as session:
        sites = list(session.scalars(select(SiteRow.id)))
        presence = []
        for member in customer.member_ids.tolist():
            roll = rng.random()
            if roll < 0.45:
                since = now - timedelta(minutes=rng.uniform(1, 300))
                state = "present" if roll < 0.4 else "arriving"
                checkin = since if state == "present" else None
                presence.append(PresenceRow(member, rng.choice(sites), state, since, checkin))
        for start in range(0, len(presence), 20_000):
            save_presence(session, rows=presence[start : start + 20_000], cleared=[], now=now)
        create_user(session, username="bench", password=PASSWORD, role=Role.COMMITTEE_ADMIN)
        chosen = rng.sample(customer.branch_ids, min(20, len(customer.branch_ids)))
        found = select(Organisation.id, Organisation.path).where(Organisation.id.in_(chosen))
        paths = {org_id: path for org_id, path in session.execute(found)}
        session.commit()
    return [(b, [int(i) for i in paths[b].strip("/").split("/")][:-1]) for b in chosen]


@contextmanager
def serving(engine: Engine, data_dir: Path) -> Iterator[str]:
    settings = Settings(data_dir=data_dir, tiles="none", port=free_port())
    app = create_app(settings, engine=engine)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass(frozen=True)
class Render:
    ms: float
    bytes: int
    requests: int
    markers: int


def first_render(browser: Browser, base: str) -> Render:
    """A fresh browser profile (cold cache) opens the map, already logged in."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.request.post(
        f"{base}/api/v1/auth/token", form={"username": "bench", "password": PASSWORD}
    )
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    received: list[float] = []
    cdp.on("Network.loadingFinished", lambda e: received.append(e["encodedDataLength"]))
    page.goto(f"{base}/map")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    ms = page.evaluate("performance.now()")
    markers = page.evaluate("document.querySelectorAll('.leaflet-marker-icon').length")
    context.close()
    return Render(ms, int(sum(received)), len(received), markers)


CLICK = """([id, name]) => new Promise((resolve) => {
  const link = document.querySelector(`.pm-node[data-org-id="${id}"] > .pm-node-row a`);
  const panel = document.getElementById("pm-org");
  const listed = () => panel.querySelector("h2") && panel.querySelector("h2").textContent
      .includes(name) && panel.querySelector("#pm-members li");
  const started = performance.now();
  const watch = new MutationObserver(() => {
    if (listed()) { watch.disconnect(); resolve(performance.now() - started); }
  });
  watch.observe(panel, { childList: true, subtree: true });
  link.click();
})"""


def click_branches(
    browser: Browser, base: str, branches: list[tuple[int, list[int]]]
) -> list[float]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.request.post(
        f"{base}/api/v1/auth/token", form={"username": "bench", "password": PASSWORD}
    )
    page = context.new_page()
    page.goto(f"{base}/map")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    times = []
    for branch, ancestors in branches:
        for org in ancestors[1:]:  # the root is open already
            node = page.locator(f'.pm-node[data-org-id="{org}"]')
            if node.locator("> .pm-children").is_hidden():
                node.locator("> .pm-node-row .pm-toggle").click()
            page.wait_for_selector(f'.pm-node[data-org-id="{org}"] > .pm-children > .pm-node')
        name = page.locator(f'.pm-node[data-org-id="{branch}"] > .pm-node-row a').inner_text()
        times.append(page.evaluate(CLICK, [branch, name]))
        page.click("#pm-org .pm-back")  # back to the tree
    context.close()
    return times


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
