"""10,000 devices held at once by one TCP source, driven by the device simulator in a process of
its own (both ends in one process would need twice the file descriptors)."""

from __future__ import annotations

import asyncio
import functools
import json
import operator
import sys
from collections import defaultdict

from devkit.devicesim import fleet, raise_open_file_limit
from gnss.model import RawChunk
from gnss.sources import TcpSource
from tests.sources.helpers import open_fds, run, wait_until

DEVICES = 10_000
SECONDS = 2


def checksum_ok(line: bytes) -> bool:
    body, star, given = line.rstrip(b"\r").partition(b"*")
    return (
        bool(star)
        and body[:1] == b"$"
        and int(given, 16) == functools.reduce(operator.xor, body[1:], 0)
    )


def test_ten_thousand_devices_connect_register_and_stream() -> None:
    assert raise_open_file_limit() > DEVICES + 1000
    credentials = fleet(DEVICES)
    tokens = {c.device_id: c.token for c in credentials}

    async def authenticate(device_id: str, token: str) -> bool:
        return tokens.get(device_id) == token

    async def body() -> None:
        fds, tasks = open_fds(), asyncio.all_tasks()
        received: dict[str, list[RawChunk]] = defaultdict(list)
        async with TcpSource(authenticate, host="127.0.0.1", port=0) as source:

            async def consume() -> None:
                while batch := await source.get_batch(10_000):
                    for chunk in batch:
                        received[chunk.device_id].append(chunk)

            consumer = asyncio.create_task(consume())
            sim = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "devkit.devicesim", "--port", str(source.port),
                "--devices", str(DEVICES), "--seconds", str(SECONDS),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert sim.stdout is not None
            connected = json.loads(await sim.stdout.readline())
            assert connected["connected"] == DEVICES
            await wait_until(lambda: source.registered_devices == DEVICES, timeout=20)
            assert source.stats.active == DEVICES
            done = json.loads(await sim.stdout.readline())
            assert await sim.wait() == 0
            await wait_until(lambda: source.stats.active == 0, timeout=20, what="all closed")
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            stats = source.stats
        assert done["epochs"] == DEVICES * SECONDS and done["closed_by_server"] == 0
        assert stats.connections == stats.disconnects == DEVICES and not stats.rejections
        assert stats.lines == 2 * DEVICES * SECONDS
        assert set(received) == set(tokens)
        for chunks in received.values():
            lines = b"".join(c.data for c in chunks).splitlines()
            assert len(lines) == 2 * SECONDS and all(map(checksum_ok, lines))
        print(f"\n10k devices: connected in {connected['connect_s']:.2f} s", end="")
        assert open_fds() == fds and asyncio.all_tasks() == tasks

    run(body(), timeout=60)
