"""The gpsd source against Debian's real gpsd, which reads NMEA (and garbage) from a pty."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator

from devkit.services import _wait_for_port, free_port
from gnss.sources import Backoff, GpsdSource
from tests.sources.helpers import GARBAGE, epoch_at, open_fds, run, wait_until
from tests.sources.test_serial import Pty

GPSD = "/usr/sbin/gpsd"
FAST = Backoff(initial_s=0.05, max_s=0.2)


@contextlib.contextmanager
def gpsd(port: int, device: str) -> Iterator[None]:
    # -N foreground, -n read the device without waiting for a client, -b never reconfigure it.
    proc = subprocess.Popen(
        [GPSD, "-N", "-n", "-b", "-S", str(port), device],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, proc, "gpsd")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


async def feed(pty: Pty, sent: list[bytes]) -> None:
    """A receiver at 20 Hz, with a burst of binary junk early on (gpsd then hunts for a binary
    protocol for a while, so once is enough)."""
    for second in range(100_000):
        epoch = epoch_at(second)
        pty.write(epoch)
        sent.extend(epoch.splitlines(keepends=True))
        if second == 4:
            pty.write(GARBAGE + b"\r\n")
        await asyncio.sleep(0.05)


def received_lines(chunks: list[bytes]) -> list[bytes]:
    return b"".join(chunks).splitlines(keepends=True)


def assert_relayed(got: list[bytes], sent: list[bytes]) -> None:
    """``got`` are lines of ``sent``, in order: gpsd relays what it accepted, drops the junk (and
    whatever the junk ran into), and adds nothing of its own."""
    assert got and all(line.startswith(b"$") for line in got)
    rest = iter(sent)
    assert all(line in rest for line in got)  # an ordered subsequence


def test_nmea_relayed_by_gpsd_arrives_and_its_json_does_not() -> None:
    pty = Pty()
    port = free_port()
    sent: list[bytes] = []

    async def body() -> None:
        feeder = asyncio.create_task(feed(pty, sent))
        try:
            async with GpsdSource("site-gps", port=port, backoff=FAST) as source:
                chunks: list[bytes] = []
                while len(received_lines(chunks)) < 20:
                    batch = await asyncio.wait_for(source.get_batch(), 10)
                    chunks += [c.data for c in batch if c.device_id == "site-gps"]
                assert_relayed(received_lines(chunks), sent)
                assert source.json_lines >= 3  # VERSION, DEVICES, WATCH
                assert source.stats.connections == 1 and source.stats.disconnects == 0
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)

    try:
        with gpsd(port, pty.name):
            run(body())
    finally:
        pty.close()


def test_a_restarted_gpsd_is_reconnected() -> None:
    pty = Pty()
    port = free_port()
    sent: list[bytes] = []

    async def lines_from(source: GpsdSource, count: int) -> list[bytes]:
        chunks: list[bytes] = []
        while len(received_lines(chunks)) < count:
            chunks += [c.data for c in await asyncio.wait_for(source.get_batch(), 10)]
        return received_lines(chunks)

    async def body() -> None:
        fds = open_fds()
        feeder = asyncio.create_task(feed(pty, sent))
        try:
            async with GpsdSource("site-gps", port=port, backoff=FAST) as source:
                with gpsd(port, pty.name):
                    await wait_until(lambda: source.stats.connections == 1, what="connected")
                    assert_relayed(await lines_from(source, 6), sent)
                await wait_until(lambda: source.stats.disconnects == 1, what="loss noticed")
                await wait_until(lambda: source.stats.connect_failures >= 2, what="retries")
                with gpsd(port, pty.name):
                    await wait_until(lambda: source.stats.connections == 2, what="reconnected")
                    assert_relayed(await lines_from(source, 6), sent)
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
        assert open_fds() == fds

    try:
        run(body())
    finally:
        pty.close()
