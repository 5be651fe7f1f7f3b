"""The demo's helmets (:mod:`partymap.demo.terminals`) against the daemon's real JT/T 808
server: recorded reports read back, stored and acknowledged, and what a dropped connection left
unacknowledged re-sent once connected again — stored once, never twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from devkit.jt808 import HELMET, Link, SimTerminal, locations
from partymap.demo.logs import LIVE, RECORDED
from partymap.demo.terminals import SUFFIX, Helmet, fix_time, recorded_reports
from partymap.ingest.daemon import Daemon
from partymap.seed import MEMBERS
from partymap.settings import Settings
from tests.ingest.helpers import build_world, visit_track, visits_of
from tests.ingest.jt808_world import JT808_ONLY, add_terminals, stored_rows
from tests.sources.helpers import run


def test_a_recording_reads_back_moved_by_the_shift(tmp_path: Path) -> None:
    track = visit_track()
    reports = locations(track, HELMET)
    sim = SimTerminal("00000000013900000001", HELMET, code=b"x", link=Link.ONLINE)
    recording = tmp_path / f"00000000013900000001{SUFFIX}"
    recording.write_text("# a comment\n" + "\n".join(sim.report(r)[0].hex() for r in reports))
    moved = recorded_reports(recording, timedelta(days=3))
    assert [fix_time(r) for r in moved] == [p.time + timedelta(days=3) for p in track]
    assert [r.lat_microdeg for r in moved] == [r.lat_microdeg for r in reports]
    # The demo's own recordings read as well.
    helmet = next(m for m in MEMBERS if m.helmet)
    assert recorded_reports(RECORDED / LIVE / f"{helmet.device}{SUFFIX}", timedelta(0))


def test_helmets_check_in_and_resend_what_a_dropped_connection_left_unacknowledged(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 0)
    carrier = add_terminals(engine, world, 1, issue=True)[0]
    track = visit_track()
    reports = locations(track, HELMET)
    assert carrier.code is not None

    async def main() -> Helmet:
        async with Daemon(settings, engine, JT808_ONLY) as daemon:
            assert daemon.sources.jt808 is not None
            helmet = Helmet(
                carrier.phone,
                carrier.code.decode(),
                host="127.0.0.1",
                port=daemon.sources.jt808.port,
            )

            async def drop() -> None:  # the network lost while reports wait for their commit
                while not helmet.pending:
                    await asyncio.sleep(0)
                assert helmet._writer is not None
                helmet._writer.transport.abort()

            dropping = asyncio.create_task(drop())
            await helmet.play(reports, paced=False, timeout_s=30)
            await dropping
            stats = daemon.sources.jt808.stats
            assert stats.events["authenticated"] == 2
            return helmet

    helmet = run(main())
    assert helmet.connections == 2
    assert helmet.acked == len(track) and not helmet.pending and not helmet.kept
    rows = stored_rows(engine, carrier.device_id)
    assert [r.fix_time for r in rows] == [p.time for p in track]  # each once, none lost
    assert {r.source for r in rows} == {"jt808"}
    ((start, _, checkin),) = visits_of(engine, carrier.member_id)
    assert checkin == start
