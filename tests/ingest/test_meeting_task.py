"""The meeting task: attendance recorded after the end and the grace, once whatever the
number of processes running it; plans scheduled ahead; overdue alerts raised once; every
process's live feed told of each change and alert once. And ``partymap serve`` runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from devkit.services import free_port
from geo.meetings.recurrence import Frequency, Rule
from geo.model import CheckIn, MeetingKind
from partymap.meeting_task import MeetingTask
from partymap.settings import Settings
from store import meetings, plans, visits
from store.live import LiveFeed
from store.models import MeetingRow, Organisation
from tests.ingest.helpers import World, build_world

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(data_dir=tmp_path, meetings_record_grace_seconds=600, **kw)


def _meeting(engine: Engine, world: World, start: datetime, minutes: int = 60) -> int:
    with Session(engine) as db:
        m = meetings.create_meeting(
            db,
            org_id=world.org_id,
            site_id=world.site_id,
            kind=MeetingKind.BRANCH_COMMITTEE_MEETING,
            start=start,
            end=start + timedelta(minutes=minutes),
        ).id
        db.commit()
    return m


def _drain(feed: LiveFeed, run: Any) -> list[Mapping[str, Any]]:
    """Run ``run()`` while subscribed to ``feed``; the events it published."""

    async def go() -> list[Mapping[str, Any]]:
        with feed.subscribe() as sub:
            await asyncio.to_thread(run)
            got = []
            while (event := await sub.get(timeout=0)) is not None:
                got.append(event)
            return got

    return asyncio.run(go())


def test_two_processes_record_each_meeting_once_and_both_tell_their_streams(
    engine: Engine, tmp_path: Path
) -> None:
    world = build_world(engine, people=2)
    with Session(engine) as db:
        visits.record_checkin(
            db, checkin=CheckIn(world.people[0].member_id, world.site_id, NOW - timedelta(hours=3))
        )
        db.commit()
    long_ago = _meeting(engine, world, NOW - timedelta(hours=2))  # ended 1 h ago
    just_ended = _meeting(engine, world, NOW - timedelta(minutes=65))  # ended 5 min ago
    going_on = _meeting(engine, world, NOW - timedelta(minutes=10))
    settings = _settings(tmp_path)
    feeds = (LiveFeed(), LiveFeed())
    tasks = [
        MeetingTask(settings, engine, f, clock=lambda: NOW - timedelta(hours=3)) for f in feeds
    ]

    first = _drain(feeds[0], lambda: tasks[0].tick(NOW))
    second = _drain(feeds[1], lambda: tasks[1].tick(NOW))
    assert tasks[0].tick(NOW).recorded == []  # nothing left to record
    with Session(engine) as db:
        recorded = {
            m.id: m.recorded_at
            for m in db.scalars(select(MeetingRow).where(MeetingRow.recorded_at.is_not(None)))
        }
    assert set(recorded) == {long_ago}  # the one ended 5 minutes ago waits for the grace
    for events in (first, second):  # each process tells its own subscribers, once
        seen = {(e["meeting_id"], e["state"]) for e in events if e["type"] == "meeting"}
        # What happened in the last ten minutes (the task looks no further back).
        assert seen == {(long_ago, "recorded"), (just_ended, "ended"), (going_on, "in_progress")}
        summary = next(e for e in events if e.get("state") == "recorded")["summary"]
        assert (summary["expected"], summary["attended"], summary["rate"]) == (2, 1, 0.5)
        assert all(e["org_path"] == world.org_path for e in events)
    # One of two came: below the default 80 %.
    alerts = [e for e in first if e["type"] == "alert"]
    assert [(a["alert"], a["meeting_id"]) for a in alerts] == [("low_attendance", long_ago)]
    assert [e for e in second if e["type"] == "alert"] == alerts
    again = _drain(feeds[0], lambda: tasks[0].tick(NOW + timedelta(minutes=6)))
    assert {(e["type"], e["meeting_id"], e.get("state") or e["alert"]) for e in again} == {
        ("meeting", just_ended, "recorded"),
        ("alert", just_ended, "low_attendance"),
    }


def test_plans_are_scheduled_and_overdue_organisations_alerted_once(
    engine: Engine, tmp_path: Path
) -> None:
    world = build_world(engine, people=1)
    with Session(engine) as db:
        db.execute(update(Organisation).values(created_at=NOW - timedelta(days=400)))
        plan = plans.create_plan(
            db,
            org_id=world.org_id,
            site_id=world.site_id,
            kind=MeetingKind.BRANCH_COMMITTEE_MEETING,
            rule=Rule(Frequency.MONTHLY, weekday=1, nth=1),
            start_time=datetime(2026, 1, 1, 15).time(),
            duration=timedelta(minutes=90),
            starts_on=NOW.date(),
        )
        db.commit()
    feed = LiveFeed()
    task = MeetingTask(_settings(tmp_path, meetings_plan_horizon_days=40), engine, feed,
                       clock=lambda: NOW)  # fmt: skip
    events = _drain(feed, lambda: task.tick(NOW))
    with Session(engine) as db:
        planned = db.scalars(select(MeetingRow.start_at).where(MeetingRow.plan_id == plan.id))
        assert [s.isoformat() for s in planned] == ["2027-01-05T07:00:00+00:00"]
    overdue = {(e["meeting_kind"], e["period_start"]) for e in events if e["alert"] == "overdue"}
    # November passed without a 支委会, Q3 without a 支部党员大会 or a 党课 (the branch
    # existed all along); no requirement for the committee itself.
    assert overdue == {
        ("BRANCH_COMMITTEE_MEETING", "2026-11-01"),
        ("BRANCH_GENERAL_MEETING", "2026-07-01"),
        ("PARTY_LECTURE", "2026-07-01"),
    }
    assert all(e["org_id"] == world.org_id for e in events)
    later = MeetingTask(_settings(tmp_path), engine, LiveFeed(), clock=lambda: NOW)
    assert later.tick(NOW).overdue_raised == 0  # raised already, by the other process
    assert _drain(feed, lambda: task.tick(NOW + timedelta(minutes=1))) == []


def test_serve_records_attendance_by_itself(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    world = build_world(engine, people=1)
    ended = _meeting(engine, world, datetime.now(UTC) - timedelta(hours=2))
    port = free_port()
    env = {
        **os.environ,
        "PARTYMAP_DATABASE_URL": database_url,
        "PARTYMAP_DATA_DIR": str(tmp_path),
        "PARTYMAP_MEETINGS_TICK_SECONDS": "0.2",
        "PARTYMAP_MEETINGS_RECORD_GRACE_SECONDS": "0",
    }
    command = [sys.executable, "-c", "from partymap.cli import main; main()", "serve",
               "--port", str(port), "--no-tcp"]  # fmt: skip
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            with Session(engine) as db:
                done = db.scalar(select(MeetingRow.recorded_at).where(MeetingRow.id == ended))
            if done is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, errors = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert done is not None, errors[-3000:]
    assert proc.returncode == 0 and "Traceback" not in errors, errors[-3000:]
