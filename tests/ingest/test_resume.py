"""Replays resume from their committed offset: every fix of the log stored exactly once.

In process, the pipeline is "crashed" after any batch (its state dropped without a flush) and a
new one resumes from what the store says, with chunks cut at random places; then the drill:
``partymap replay`` killed with SIGKILL, stopped with SIGTERM, killed again, each time mid-log,
and started again until the log is done.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from devkit.simulate import TrackPoint
from devkit.simulate import log as receiver_log
from gnss.logs.reader import decode_log
from gnss.model import RawChunk
from partymap.ingest.pipeline import Arrival, Intake, Pipeline, ingest
from partymap.ingest.sources import ReplaySpec
from partymap.ingest.startup import load_state
from partymap.ingest.writer import write_batches
from store.db import make_engine
from store.offsets import get_replay_offset
from tests.ingest.helpers import T0, build_world, stored, visit_track, visits_of

ROOT = Path(__file__).resolve().parents[2]


def long_log(path: Path, epochs: int, family: str = "ublox-f9p") -> bytes:
    """Walks in and out of the site, epoch after epoch, as a gpsd-format log with a header."""
    track: list[TrackPoint] = []
    while len(track) < epochs:
        track += visit_track(track[-1].time + timedelta(seconds=1) if track else T0)
    data = receiver_log(track[:epochs], family, notes="resume drill")
    path.write_bytes(data)
    return data


def expected_fix_times(data: bytes) -> list[object]:
    return [fix.time for fix in decode_log(data).fixes]


def replay_in_process(
    engine: Engine, spec: ReplaySpec, data: bytes, *, crash_after: int | None, seed: int
) -> None:
    """Batches of randomly cut chunks from the committed offset on, committed one by one; the
    pipeline is dropped without a flush after ``crash_after`` batches."""
    rng = random.Random(seed)
    with Session(engine) as session:
        loaded = load_state(session, replay_keys=[spec.key])
    stages = Pipeline.build(loaded.directory, loaded.sites, clock="stream")
    offset = loaded.offsets[spec.key]
    stages.decoding.resume.start(spec.key, spec.device_id, offset=offset)
    batches = 0
    while offset < len(data):
        arrivals = []
        for _ in range(rng.randint(1, 4)):
            if offset >= len(data):
                break
            cut = data.find(b"\n", offset + rng.randint(1, 20_000)) + 1 or len(data)
            chunk = RawChunk(spec.device_id, data[offset:cut], 0.0, cut)
            arrivals.append(Arrival([chunk], "replay", False))
            offset = cut
        ended = [spec.device_id] if offset >= len(data) else []
        batch = ingest(stages, Intake(arrivals, time.time(), ended))
        with Session(engine) as session:
            write_batches(session, [batch])
            session.commit()
        batches += 1
        if crash_after is not None and batches >= crash_after:
            return


@pytest.mark.parametrize("seed", range(4))
def test_a_pipeline_dropped_after_any_batch_resumes_without_loss_or_double(
    spatialite_template: Path, tmp_path: Path, seed: int
) -> None:
    family = ["ublox-f9p", "casic", "unicore"][seed % 3]
    data = long_log(tmp_path / "walk.nmea", 420, family)
    results = []
    for crashes in (False, True):
        path = tmp_path / f"crashes-{crashes}.sqlite"
        shutil.copyfile(spatialite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        try:
            person = build_world(engine, 1).people[0]
            spec = ReplaySpec(tmp_path / "walk.nmea", person.uid)
            rng = random.Random(seed)
            while committed(engine, spec.key) < len(data):
                crash_after = rng.randint(1, 6) if crashes else None
                replay_in_process(engine, spec, data, crash_after=crash_after, seed=rng.random())
            results.append((stored(engine, person.device_id), visits_of(engine, person.member_id)))
        finally:
            engine.dispose()
    (times, visits), crashed = results
    assert times == expected_fix_times(data)
    assert len(visits) == 4  # three walks in and out, and a fourth still at the site
    assert crashed == (times, visits)


def committed(engine: Engine, key: str) -> int:
    with Session(engine) as session:
        return get_replay_offset(session, source=key) or 0


@pytest.mark.slow
@pytest.mark.postgis
def test_partymap_replay_killed_or_stopped_mid_log_stores_every_fix_once(
    postgis_databases: object, tmp_path: Path
) -> None:
    url = postgis_databases.create()  # type: ignore[attr-defined]
    engine = make_engine(url)
    try:
        person = build_world(engine, 1).people[0]
        log = tmp_path / "shift.nmea"
        data = long_log(log, 3000)
        key = ReplaySpec(log, person.uid).key
        # Small batches and a write buffer of one batch: the replay cannot decode far ahead of
        # its commits, so each interruption lands mid-log however fast the machine decodes.
        env = {
            **os.environ,
            "PARTYMAP_DATABASE_URL": url,
            "PARTYMAP_DATA_DIR": str(tmp_path),
            "PARTYMAP_INGEST_BATCH_LINES": "2000",
            "PARTYMAP_INGEST_BUFFER_FIXES": "1",
        }
        command = [sys.executable, "-c", "from partymap.cli import main; main()", "replay",
                   str(log), "--device", person.uid]  # fmt: skip

        # Killed, stopped cleanly (signalled twice), killed again: each time just after a
        # commit, mid-log.
        interruptions = [signal.SIGKILL, signal.SIGTERM, signal.SIGKILL]
        outputs = []
        while committed(engine, key) < len(data):
            proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            if interruptions:
                before = committed(engine, key)
                deadline = time.monotonic() + 60
                while (
                    committed(engine, key) == before
                    and proc.poll() is None
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.02)
                if proc.poll() is None:
                    sig = interruptions.pop(0)
                    proc.send_signal(sig)
                    if sig == signal.SIGTERM:  # a second one, while it stores what it read
                        time.sleep(0.05)
                        proc.send_signal(sig)
            outputs.append(proc.communicate(timeout=120)[0])
        assert not interruptions, outputs
        assert "interrupted, run again to resume" in outputs[1]
        times = stored(engine, person.device_id)
        assert not [t for t, n in Counter(times).items() if n > 1]
        assert times == expected_fix_times(data)
    finally:
        engine.dispose()
