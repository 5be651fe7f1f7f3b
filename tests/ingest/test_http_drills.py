"""HTTP ingest drills against ``partymap serve`` in its own process: killed with SIGKILL during
bursts of posts from several devices, every fix of every body answered 202 is stored (the
answer comes only once the body's fixes are committed, its last epoch included)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine

from devkit.services import free_port
from tests.ingest.helpers import Person, build_world, nmea, stored, visit_track
from tests.ingest.test_serve import _answers

ROOT = Path(__file__).resolve().parents[2]
BODY_FIXES = 4  # fixes (epochs) a post carries


@contextmanager
def serve(database_url: str, tmp_path: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    """``partymap serve`` with HTTP ingest only, at the default batch age."""
    env = {
        **os.environ,
        "PARTYMAP_DATABASE_URL": database_url,
        "PARTYMAP_DATA_DIR": str(tmp_path),
        "PARTYMAP_INGEST_DECODER_PROCESS": "false",
    }
    command = [sys.executable, "-c", "from partymap.cli import main; main()", "serve",
               "--no-tcp", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_kill_9_during_http_bursts_loses_no_fix_answered_202(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    people = build_world(engine, 6).people
    track = visit_track(stay_s=600)
    bodies = [track[k : k + BODY_FIXES] for k in range(0, len(track), BODY_FIXES)]
    port = free_port()
    # Per device, the fix times of each body answered 202.
    acknowledged: dict[int, list[datetime]] = {p.device_id: [] for p in people}
    answers: dict[int, int] = {}
    waited: list[float] = []  # seconds from post to answer

    async def device(client: httpx.AsyncClient, person: Person, seed: int) -> None:
        for body in bodies:
            posted = time.monotonic()
            try:
                response = await client.post(
                    f"/api/v1/devices/{person.uid}/nmea",
                    content=nmea(body, seed=seed),
                    headers={"Authorization": f"Bearer {person.token}"},
                )
            except httpx.HTTPError:
                return  # the server died with this post unanswered: not acknowledged
            answers[response.status_code] = answers.get(response.status_code, 0) + 1
            waited.append(time.monotonic() - posted)
            if response.status_code != 202:
                return
            acknowledged[person.device_id] += [p.time for p in body]

    async def burst(proc: subprocess.Popen[str]) -> None:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            posting = [asyncio.create_task(device(client, p, k)) for k, p in enumerate(people)]
            # Kill mid-burst: once a good share of the bodies were answered, posts in flight.
            deadline = time.monotonic() + 90
            while sum(map(len, acknowledged.values())) < len(track) * len(people) // 3:
                assert time.monotonic() < deadline, answers
                assert not all(t.done() for t in posting), answers
                await asyncio.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            await asyncio.gather(*posting)

    with serve(database_url, tmp_path, port) as proc:
        asyncio.run(burst(proc))
    waited.sort()
    print(
        f"http kill -9: {sum(map(len, acknowledged.values()))} fixes answered 202 in "
        f"{answers.get(202, 0)} posts, answer median {waited[len(waited) // 2] * 1000:.0f} ms"
    )
    assert set(answers) == {202}, answers
    assert sum(map(len, acknowledged.values())) < len(track) * len(people), "killed too late"
    for person in people:
        mine = acknowledged[person.device_id]
        assert mine, person
        missing = set(mine) - set(stored(engine, person.device_id))
        assert not missing, (person.uid, len(missing), sorted(missing)[:5])
