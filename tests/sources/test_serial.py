"""Serial receivers over a real pty pair, including the port vanishing and coming back."""

from __future__ import annotations

import os
import tty
from pathlib import Path

from gnss.nmea.framing import MAX_PENDING
from gnss.sources import Backoff, SerialSource, SourceRejection
from tests.sources.helpers import EPOCH, GARBAGE, collect, joined, open_fds, run, wait_until

FAST = Backoff(initial_s=0.02, max_s=0.1)


class Pty:
    """A pty pair; the serial source opens the slave by name, the test writes to the master."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        # Raw before anything is written, or the line discipline would echo and translate.
        tty.setraw(slave)
        self.name = os.ttyname(slave)
        os.close(slave)

    def write(self, data: bytes) -> None:
        # A pty master may take only part of a large write, as a UART driver's FIFO would;
        # what is left over is written again, never dropped.
        rest = memoryview(data)
        while rest:
            rest = rest[os.write(self.master, rest) :]

    def close(self) -> None:
        os.close(self.master)


def test_lines_from_a_pty_arrive_whole_and_garbage_is_passed_on() -> None:
    pty = Pty()

    async def body() -> None:
        async with SerialSource(pty.name, "rx-1", baudrate=115200, backoff=FAST) as source:
            await wait_until(lambda: source.stats.connections == 1)
            for i in range(len(EPOCH)):  # one byte per read: every boundary
                pty.write(EPOCH[i : i + 1])
                await wait_until(lambda i=i: source.stats.bytes == i + 1, what=f"byte {i}")
            pty.write(GARBAGE + b"\n" + b"x" * (MAX_PENDING + 10))
            await wait_until(lambda: source.stats.rejections[SourceRejection.LINE_TOO_LONG] == 1)
            pty.write(b"\r\n" + EPOCH)
            total = 2 * len(EPOCH) + len(GARBAGE) + MAX_PENDING + 14
            chunks = await collect(source, total=total)
            data = joined(chunks)
            assert data.startswith(EPOCH + GARBAGE + b"\n") and data.endswith(EPOCH)
            assert {c.device_id for c in chunks} == {"rx-1"}
            assert all(c.data.endswith(b"\n") for c in chunks)
            assert source.stats.disconnects == 0

    try:
        run(body())
    finally:
        pty.close()


def test_a_vanished_port_is_reopened_with_backoff(tmp_path: Path) -> None:
    link = tmp_path / "ttyGNSS"  # a stable name, as udev gives a USB receiver

    async def body() -> None:
        fds = open_fds()
        first = Pty()
        link.symlink_to(first.name)
        async with SerialSource(str(link), "rx-2", backoff=FAST) as source:
            await wait_until(lambda: source.stats.connections == 1)
            first.write(EPOCH + EPOCH[:40])  # unplugged in the middle of a line
            assert joined(await collect(source, total=len(EPOCH))) == EPOCH
            link.unlink()
            first.close()
            await wait_until(lambda: source.stats.disconnects == 1, what="loss noticed")
            await wait_until(lambda: source.stats.connect_failures >= 3, what="retries")
            assert source.stats.active == 0
            assert source.stats.rejections == {SourceRejection.PARTIAL_LINE: 1}
            second = Pty()  # plugged in again: another pty behind the same name
            link.symlink_to(second.name)
            try:
                await wait_until(lambda: source.stats.connections == 2, what="reopened")
                second.write(EPOCH)
                assert joined(await collect(source, total=len(EPOCH))) == EPOCH
            finally:
                second.close()
        assert open_fds() == fds

    run(body())
