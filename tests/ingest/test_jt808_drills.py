"""JT/T 808 drills against ``partymap serve`` in its own process: killed with SIGKILL while
helmets report (what was acknowledged is stored, what was re-sent is stored once), and a
mutated-frame fuzz through the server (it stays up, counts every frame read, and a
well-behaved terminal meanwhile is stored in full)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import Engine

from devkit.jt808 import Connection, SimTerminal, drive, locations
from devkit.services import free_port
from gnss.jt808.codec import encode
from gnss.jt808.header import Header
from gnss.jt808.messages import Heartbeat, LocationReport
from store.db import make_engine
from tests.ingest.helpers import build_world, visit_track
from tests.ingest.jt808_world import Carrier, add_terminals, stored_rows, terminal
from tests.sources.helpers import run, wait_until

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def serve(
    database_url: str, tmp_path: Path, port: int, *, http_port: int | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``partymap serve`` with the JT/T 808 server on ``port`` (and the API when asked)."""
    env = {
        **os.environ,
        "PARTYMAP_DATABASE_URL": database_url,
        "PARTYMAP_DATA_DIR": str(tmp_path),
        "PARTYMAP_INGEST_BATCH_SECONDS": "0.02",
        "PARTYMAP_INGEST_DECODER_PROCESS": "false",
    }
    command = [sys.executable, "-c", "from partymap.cli import main; main()", "serve",
               "--no-tcp", "--jt808-port", str(port)]  # fmt: skip
    if http_port is None:
        command.append("--no-http")
    else:
        command += ["--port", str(http_port)]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "serve did not open its JT/T 808 port"
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def times_of(engine: Engine, carrier: Carrier) -> list[object]:
    return [row.fix_time for row in stored_rows(engine, carrier.device_id)]


def test_kill_9_loses_nothing_acknowledged_and_stores_nothing_twice(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    world = build_world(engine, 0)
    carriers = add_terminals(engine, world, 4, issue=True)
    track = visit_track()
    port = free_port()
    sims = [terminal(c) for c in carriers]
    reports = [locations(track, sim.profile, seed=k) for k, sim in enumerate(sims)]
    cut = len(track) // 2

    async def first_half(proc: subprocess.Popen[str]) -> None:
        connections = [await Connection.open(s, "127.0.0.1", port) for s in sims]
        for c in connections:
            await c.wait_online(30)
        for index in range(cut):
            for c, mine in zip(connections, reports, strict=True):
                await c.report(mine[index])
            await asyncio.sleep(0.002)
        # Once the first acknowledgements come, a last burst, and the kill while its
        # acknowledgements are still on their way.
        await wait_until(lambda: sum(len(s.acked) for s in sims) >= cut, timeout=90)
        for c, mine in zip(connections, reports, strict=True):
            for location in mine[cut : cut + 5]:
                await c.report(location)
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
        for c in connections:
            await asyncio.wait_for(c.closed_by_platform.wait(), 30)
            await c.close()  # what was not acknowledged waits in the terminal

    async def second_half() -> None:
        async def finish(sim: SimTerminal, mine: list) -> None:  # type: ignore[type-arg]
            await drive(sim, "127.0.0.1", port, mine[cut + 10 :], timeout_s=60)

        await asyncio.gather(*(finish(s, m) for s, m in zip(sims, reports, strict=True)))

    with serve(database_url, tmp_path, port) as proc:
        run(first_half(proc), timeout=120)
    acked_before = [list(s.acked) for s in sims]
    for sim, mine in zip(sims, reports, strict=True):
        for location in mine[cut + 5 : cut + 10]:
            sim.report(location)  # made while the platform is down: kept for later
    # Nothing acknowledged is lost.
    for carrier, acked in zip(carriers, acked_before, strict=True):
        stored = set(times_of(engine, carrier))
        assert {loc.time for loc in acked} <= stored
    assert sum(map(len, acked_before)) > 0
    with serve(database_url, tmp_path, port):
        run(second_half(), timeout=180)
    for carrier, sim in zip(carriers, sims, strict=True):
        times = times_of(engine, carrier)
        assert len(times) == len(set(times)) == len(track), carrier  # all once, none twice
        assert len(sim.acked) >= len(track)


def mutate(frame: bytes, rng: random.Random) -> bytes:
    """One of: a flipped byte, a byte dropped or inserted, a cut, an escape broken, two frames
    glued, noise."""
    data = bytearray(frame)
    kind = rng.randrange(7)
    at = rng.randrange(len(data))
    if kind == 0:
        data[at] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del data[at]
    elif kind == 2:
        data.insert(at, rng.randrange(256))
    elif kind == 3:
        data = data[: max(at, 1)]
    elif kind == 4:
        data.insert(at, 0x7D)
    elif kind == 5:
        data = data[:-1] + data[1:]
    else:
        data = bytearray(rng.randbytes(rng.randrange(1, 40)))
    return bytes(data)


def test_mutated_frames_through_the_server(spatialite_url: str, tmp_path: Path) -> None:
    engine = make_engine(spatialite_url)
    world = build_world(engine, 0)
    good, fuzzer = add_terminals(engine, world, 2, issue=True)
    track = visit_track()
    port, http_port = free_port(), free_port()
    total = int(os.environ.get("PARTYMAP_FUZZ_FRAMES", "50000"))
    rng = random.Random(808)
    fsim = terminal(fuzzer)
    base = [
        encode(LocationReport(Header(0x0200, fsim.phone, k & 0xFFFF, protocol_version=1), loc))
        for k, loc in enumerate(locations(track, fsim.profile))
    ] + [encode(Heartbeat(Header(0x0002, fsim.phone, 7, protocol_version=1)))]

    async def fuzz() -> int:
        connection = await Connection.open(fsim, "127.0.0.1", port)
        await connection.wait_online(30)
        sent = 0
        while sent < total:
            # Small chunks with a pause: a mutation that ends the session (a refused login, a
            # deregistration) is seen before much more is written into the closed connection.
            chunk = [mutate(rng.choice(base), rng) for _ in range(min(50, total - sent))]
            sent += len(chunk)
            if connection.closed_by_platform.is_set():  # a mutation made it a refused login
                await connection.close()
                connection = await Connection.open(fsim, "127.0.0.1", port)
                await connection.wait_online(30)
            with contextlib.suppress(ConnectionError):
                await connection.send(chunk)
            await asyncio.sleep(0.002)
        await connection.close()
        return sent

    async def main() -> SimTerminal:
        gsim = terminal(good)
        reports = locations(track, gsim.profile)
        _, done = await asyncio.gather(
            fuzz(), drive(gsim, "127.0.0.1", port, reports, timeout_s=120)
        )
        return done

    try:
        with serve(spatialite_url, tmp_path, port, http_port=http_port) as proc:
            good_sim = run(main(), timeout=600)
            time.sleep(1.0)
            text = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=10).text
            assert proc.poll() is None  # still up
        samples = {}
        for line in text.splitlines():
            if line.startswith("partymap_jt808_"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        frames = samples["partymap_jt808_frames_total"]
        accepted = samples["partymap_jt808_accepted_total"]
        rejected = sum(
            v for k, v in samples.items() if k.startswith("partymap_jt808_rejected_frames_total")
        )
        # Mutations glue frames together (a lost flag) or split them: frames read are fewer
        # than frames sent, and each is accepted or rejected with a reason.
        print(
            f"jt808 fuzz: {total} mutated frames sent, {frames:.0f} read, {accepted:.0f} accepted"
        )
        assert frames == accepted + rejected and rejected > total / 20 and accepted > len(track)
        assert len(good_sim.acked) == len(track)
        assert [r.fix_time for r in stored_rows(engine, good.device_id)] == [p.time for p in track]
    finally:
        engine.dispose()
