"""One device's data never stops ingestion for the others: extreme numbers in every field go
through the daemon as counted rejections; a batch that fails on one device's data (a bug) sets
that device's lines aside, counted, while the others are stored; a pipeline that fails for
everyone fails the daemon, ``/healthz`` says so and HTTP ingest answers 503, not 202."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from api.app import create_app
from api.ingest import IngestUnavailableError
from devkit.services import free_port
from gnss.epoch.batch import BatchDecoder, FixBatch
from gnss.model import RawChunk
from partymap.ingest import daemon as daemon_module
from partymap.ingest.daemon import Daemon
from partymap.ingest.run import HTTP_GRACE_S
from partymap.settings import Settings
from store.db import make_engine
from tests.gnss.streams import EXTREME_NUMBERS, TRICKY_FIELDS, layouts, with_field
from tests.ingest.helpers import build_world, nmea, stored, visit_track
from tests.ingest.test_daemon import HTTP_ONLY, send
from tests.ingest.test_serve import ROOT, _answers
from tests.sources.helpers import run, wait_until

POISON = b"$PXPOISON*00"


class PoisonedDecoder(BatchDecoder):
    """A decoder with a bug: a batch holding :data:`POISON` raises (everything else as usual)."""

    def decode_table(self, chunks: Sequence[RawChunk]) -> FixBatch:
        if any(POISON in chunk.data for chunk in chunks):
            raise RuntimeError("a bug met in one device's data")
        return super().decode_table(chunks)


class BrokenDecoder(BatchDecoder):
    """A decoder with a bug every batch meets."""

    def decode_table(self, chunks: Sequence[RawChunk]) -> FixBatch:
        if chunks:
            raise RuntimeError("a bug met in every batch")
        return super().decode_table(chunks)


def extreme_lines(seed: int = 0) -> bytes:
    """Every extreme number in every field of every sentence layout, and random mixes of them."""
    rng = random.Random(seed)
    lines = [
        with_field(line, at, value)
        for line in layouts().values()
        for at in range(1, line.count(b",") + 1)
        for value in EXTREME_NUMBERS
    ]
    for _ in range(2000):
        line = rng.choice(list(layouts().values()))
        for _ in range(rng.randint(1, 4)):
            at = rng.randint(1, line.count(b","))
            line = with_field(line, at, rng.choice(EXTREME_NUMBERS + TRICKY_FIELDS))
        lines.append(line)
    return b"".join(line + b"\r\n" for line in lines)


async def healthz(daemon: Daemon, settings: Settings, engine: Engine) -> httpx.Response:
    app = create_app(settings, engine=engine, ingest=daemon.http)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/healthz")


def test_extreme_numbers_through_the_daemon_are_counted_and_spare_the_others(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 2)
    wild, good = world.people
    track = visit_track()
    garbage = extreme_lines()

    async def go() -> Daemon:
        async with Daemon(settings, engine, HTTP_ONLY) as daemon:
            await send(daemon, wild.uid, garbage)
            await send(daemon, good.uid, nmea(track))
            await send(daemon, wild.uid, garbage[::-1])
        return daemon

    daemon = run(go(), timeout=120)
    assert daemon.failure is None and not daemon.stats.quarantined_devices
    assert len(stored(engine, good.device_id)) == len(track)
    stats = daemon.stats
    assert stats.lines_accepted + sum(stats.lines_rejected.values()) == stats.lines
    assert stats.lines_rejected["bad_field"] > 0


@pytest.fixture
def in_process(settings: Settings) -> Settings:
    return settings.model_copy(update={"ingest_decoder_process": False})


def test_a_batch_failing_on_one_devices_data_quarantines_that_device_only(
    in_process: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_module, "BatchDecoder", PoisonedDecoder)
    world = build_world(engine, 2)
    bad, good = world.people
    track = visit_track()

    refused = 0

    async def bad_post(daemon: Daemon, data: bytes) -> None:
        nonlocal refused
        try:
            await daemon.http.send(bad.uid, data)  # type: ignore[union-attr]
        except IngestUnavailableError:
            refused += 1  # set aside, not stored: the device is not told it was

    async def go() -> tuple[Daemon, httpx.Response]:
        async with Daemon(in_process, engine, HTTP_ONLY) as daemon:
            poisoned = nmea(track[:5]) + POISON + b"\r\n" + nmea(track[5:])
            for k in range(0, len(track), 5):
                # Both devices in the same batches: the good one must not pay for the bad one.
                bad_posted = bad_post(daemon, poisoned if k == 0 else nmea(track[k : k + 5]))
                good_posted = daemon.http.send(good.uid, nmea(track[k : k + 5]))  # type: ignore[union-attr]
                await asyncio.gather(bad_posted, good_posted)
            await wait_until(lambda: len(stored(engine, good.device_id)) >= len(track) - 1)
            status = daemon.status()
            assert status["state"] == "degraded" and status["quarantined_devices"] == 1
            assert daemon.running
            health = await healthz(daemon, in_process, engine)
        return daemon, health

    daemon, health = run(go(), timeout=60)
    assert daemon.failure is None
    assert daemon.stats.quarantined_devices == {bad.uid}
    assert refused == len(range(0, len(track), 5))  # every post of the bad device
    assert daemon.stats.lines_quarantined["http"] > 0
    assert daemon.stats.batches_failed >= 1
    assert len(stored(engine, good.device_id)) == len(track)
    assert not stored(engine, bad.device_id)
    assert health.status_code == 200 and health.json()["ingestion"]["state"] == "degraded"
    ingestion = health.json()["ingestion"]
    # The signal that ingestion caught up: nothing waiting, the newest stored fix time.
    assert ingestion["backlog_lines"] == {} and ingestion["buffered_fixes"] == 0
    assert ingestion["newest_fix_time"] == max(stored(engine, good.device_id)).isoformat()


def test_a_pipeline_failing_for_everyone_fails_the_daemon_and_ingest_answers_503(
    in_process: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon_module, "BatchDecoder", BrokenDecoder)
    world = build_world(engine, 2)
    track = visit_track()[:5]

    async def go() -> tuple[Daemon, int, dict[str, object]]:
        daemon = Daemon(in_process, engine, HTTP_ONLY)
        await daemon.start()
        try:
            for person in world.people:  # not stored: not acknowledged either
                with pytest.raises(IngestUnavailableError):
                    await daemon.http.send(person.uid, nmea(track))  # type: ignore[union-attr]
            await wait_until(daemon.failed.is_set, what="the daemon failed")
            with pytest.raises(IngestUnavailableError):
                await daemon.http.send(world.people[0].uid, nmea(track))  # type: ignore[union-attr]
            app = create_app(in_process, engine=engine, ingest=daemon.http)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                health = await client.get("/healthz")
                posted = await client.post(
                    f"/api/v1/devices/{world.people[0].uid}/nmea",
                    content=nmea(track),
                    headers={"Authorization": f"Bearer {world.people[0].token}"},
                )
            assert posted.status_code == 503 and posted.headers["Retry-After"]
        finally:
            await daemon.stop()  # returns promptly though the pipeline is gone
        return daemon, health.status_code, health.json()

    daemon, code, body = run(go(), timeout=30)
    assert daemon.failure is not None
    assert code == 503 and body["ingestion"]["state"] == "failed"  # type: ignore[index]


BROKEN_SITE = """
from gnss.epoch.batch import BatchDecoder
import partymap.ingest.daemon


class BrokenDecoder(BatchDecoder):
    def decode_table(self, chunks):
        if chunks:
            raise RuntimeError("a bug met in every batch")
        return super().decode_table(chunks)


partymap.ingest.daemon.BatchDecoder = BrokenDecoder
"""


def test_serve_exits_non_zero_promptly_when_its_pipeline_stops(
    spatialite_url: str, tmp_path: Path
) -> None:
    """No zombie: a ``partymap serve`` whose pipeline has stopped (a bug in every batch, put
    in through ``sitecustomize``) closes its ports and exits 1 by itself, in seconds."""
    engine = make_engine(spatialite_url)
    people = build_world(engine, 2).people
    engine.dispose()
    (tmp_path / "sitecustomize.py").write_text(BROKEN_SITE)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "PARTYMAP_DATABASE_URL": spatialite_url,
        "PARTYMAP_DATA_DIR": str(tmp_path),
        "PARTYMAP_INGEST_DECODER_PROCESS": "false",
    }
    command = [sys.executable, "-c", "from partymap.cli import main; main()", "serve"]
    command += ["--port", str(port), "--no-tcp"]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        for person in people:
            httpx.post(
                f"http://127.0.0.1:{port}/api/v1/devices/{person.uid}/nmea",
                content=nmea(visit_track()[:3]),
                headers={"Authorization": f"Bearer {person.token}"},
                timeout=10,
            )
        posted = time.monotonic()
        try:
            _, errors = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("still running: " + proc.communicate()[1][-3000:]) from None
        took = time.monotonic() - posted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, errors[-3000:]
    assert took < HTTP_GRACE_S + 10, took
    assert "fails for every one of its" in errors


def test_lines_and_sentences_are_counted_apart(settings: Settings, engine: Engine) -> None:
    """A line with two sentences glued together is one line read and two sentences decoded:
    accepted + rejected = sentences, per source."""
    (person,) = build_world(engine, 1).people
    glued = b"$GPGSA,A,1,,,,,,,,,,,,,,,*1E$GNRMC,,V,,,,,,,,,,N*4D\r\n"

    async def go() -> Daemon:
        async with Daemon(settings, engine, HTTP_ONLY) as daemon:
            await send(daemon, person.uid, glued + b"$GPGGA,garbage*00\r\n")
        return daemon

    stats = run(go()).stats
    assert stats.lines_read["http"] == 2
    assert stats.lines == 3 == stats.lines_accepted + sum(stats.lines_rejected.values())
    assert stats.lines_of("http") == 3
