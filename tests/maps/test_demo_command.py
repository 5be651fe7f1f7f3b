"""``partymap demo`` as a user runs it: printed instructions that work, the history on the map at
once, the live part flowing through the ingestion daemon, and Ctrl-C stopping it cleanly."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty, Queue

import httpx
import pytest

from devkit.services import free_port
from partymap.seed import MEETING, MEMBERS

pytestmark = pytest.mark.slow
HELMETS = [m for m in MEMBERS if m.helmet]
ON_SITE = {"胡军"}  # at the worksite from the history on (the others arrive minutes later)
PARTYMAP = str(Path(sys.executable).with_name("partymap"))  # the installed command


def lines_of(process: subprocess.Popen[str]) -> Queue[str]:
    out: Queue[str] = Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            out.put(line)

    threading.Thread(target=read, daemon=True).start()
    return out


def read_until(out: Queue[str], pattern: str, timeout: float) -> tuple[re.Match[str], str]:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen += out.get(timeout=0.5)
        except Empty:
            continue
        if found := re.search(pattern, seen):
            return found, seen
    raise AssertionError(f"no {pattern!r} within {timeout} s in:\n{seen}")


def test_the_demo_runs_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PARTYMAP_DATA_DIR": str(tmp_path / "elsewhere")}
    process = subprocess.Popen(
        [PARTYMAP, "demo", "--data-dir", str(tmp_path), "--port", str(port), "--lang", "en"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    out = lines_of(process)
    try:
        _, text = read_until(out, r"Ctrl-C stops the demo", 60)
        found = re.search(r"admin\s+(\S+)\s+committee admin", text)
        assert found is not None
        assert f"Open    http://127.0.0.1:{port}/map" in text
        assert "branch   " in text and "机关第一党支部 only" in text
        # The printed --url points the other commands at the demo's database.
        url = re.search(r"--url (\S+)", text)
        assert url is not None and url.group(1).endswith("demo.sqlite")
        current = subprocess.run(
            [PARTYMAP, "db", "current", "--url", url.group(1)],
            check=False, capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert current.returncode == 0 and "current: empty" not in current.stdout, current.stderr
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            assert "partymapDashboard(" in client.get("/map").text
            login = {"username": "admin", "password": found.group(1)}
            token = client.post("/api/v1/auth/token", data=login).json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            # The history is replayed at once: members are present at their sites.
            present = wait_for(lambda: top_states(client)["present"], lambda n: n >= 15, 30)
            assert present >= 15
            # The live meeting, among the past year's recorded ones and the plans' next ones.
            meeting = next(
                m
                for m in client.get("/api/v1/map/meetings").json()["meetings"]
                if m["title"] == MEETING.title
            )
            live_start = datetime.fromisoformat(meeting["start"]) - MEETING.starts_after
            # Then the live part, paced by its time tags: fixes from after its start arrive.
            walker = next(m for m in org_members(client, meeting["org_id"]) if m["name"] == "李娜")
            newest = wait_for(
                lambda: latest_fix(client, walker["member_id"]),
                lambda t: t is not None and t > live_start + timedelta(seconds=3),
                40,
            )
            assert newest is not None
            # The helmets talk to the live daemon's JT/T 808 port: reports acknowledged once
            # stored (the day shift's first live report comes at the live part's start).
            acked = wait_for(lambda: jt808_metric(client, "acked"), lambda n: n >= 1, 30)
            assert acked >= 1 and jt808_metric(client, "connections") >= len(HELMETS)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        _, text = read_until(out, r"demo stopped", 5)
        assert "Traceback" not in text, text
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
    assert (tmp_path / "demo.sqlite").exists()
    assert not (tmp_path / "elsewhere").exists()  # nothing outside --data-dir
    # The helmets' members checked in at the shield worksite on what came through JT/T 808.
    with contextlib.closing(sqlite3.connect(tmp_path / "demo.sqlite")) as db:
        for m in HELMETS:
            sources = db.execute(
                "SELECT DISTINCT p.source FROM positions p JOIN devices d ON d.id = p.device_id"
                " WHERE d.uid = ? AND d.protocol = 'jt808'",
                (m.device,),
            ).fetchall()
            assert sources == [("jt808",)], m.name
            checkins = db.execute(
                "SELECT s.name FROM visits v JOIN members m ON m.id = v.member_id"
                " JOIN sites s ON s.id = v.site_id WHERE m.name = ? AND v.checkin_at IS NOT NULL",
                (m.name,),
            ).fetchall()
            if m.name in ON_SITE:
                assert checkins == [("汉阳盾构始发井",)], m.name


def wait_for(read, good, timeout: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    value = read()
    while not good(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def top_states(client: httpx.Client) -> dict[str, int]:
    return client.get("/api/v1/map/tree").json()["nodes"][0]["states"]


def org_members(client: httpx.Client, org_id: int) -> list[dict]:
    return client.get(f"/api/v1/map/orgs/{org_id}").json()["members"]


def latest_fix(client: httpx.Client, member_id: int) -> datetime | None:
    latest = client.get(f"/api/v1/map/members/{member_id}").json()["latest"]
    return datetime.fromisoformat(latest["fix_time"]) if latest else None


def jt808_metric(client: httpx.Client, name: str) -> float:
    found = re.search(rf"^partymap_jt808_{name}_total (\S+)$", client.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0
