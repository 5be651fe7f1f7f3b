"""The TCP device server over real sockets: registration, framing, timeouts, refusals,
backpressure and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import struct

import pytest

from gnss.nmea.framing import MAX_PENDING
from gnss.sources import SourceRejection, TcpSource, Verdict
from gnss.sources.tcp import parse_registration
from tests.sources.helpers import EPOCH, GARBAGE, collect, joined, open_fds, run, wait_until

TOKENS = {f"dtu-{n}": f"token-{n}" for n in range(10)}


async def authenticate(device_id: str, token: str) -> Verdict:
    expected = TOKENS.get(device_id)
    if expected is None:
        return Verdict.UNKNOWN_DEVICE
    return Verdict.ACCEPTED if hmac.compare_digest(expected, token) else Verdict.BAD_TOKEN


def server(**options: object) -> TcpSource:
    return TcpSource(authenticate, host="127.0.0.1", port=0, **options)  # type: ignore[arg-type]


async def connect(
    source: TcpSource, first: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
    writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if first:
        writer.write(first)
        await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 5.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except ConnectionResetError:
        return True


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionResetError):
        await writer.wait_closed()


@pytest.mark.parametrize(
    "line",
    [b"", b"REG", b"REG,dtu-1", b"REG,dtu-1,", b"REG,,tok", b"REG,dtu 1,tok", b"REG,dtu-1,tok,x",
     b"reg,dtu-1,tok", b"REG,dtu-1,t\xffk", b"REG,a/b,tok", b"$GPGGA,1*00"],
)  # fmt: skip
def test_malformed_registrations_are_refused(line: bytes) -> None:
    assert parse_registration(line) is None


def test_registered_device_lines_arrive_whole_heartbeats_dropped() -> None:
    async def body() -> None:
        async with server() as source:
            _, w1 = await connect(source, b"REG,dtu-1,token-1\r\n" + EPOCH[:100])
            _, w2 = await connect(source, b"REG,dtu-2,token-2\nHB\n")
            w1.write(EPOCH[100:] + b"HB\r\n" + EPOCH)
            w2.write(EPOCH + b"HB\n")
            chunks = await collect(source, total=3 * len(EPOCH))
            assert joined(chunks, "dtu-1") == EPOCH * 2
            assert joined(chunks, "dtu-2") == EPOCH
            assert all(c.data.endswith(b"\n") and c.offset is None for c in chunks)
            stats = source.stats
            assert (stats.connections, stats.active, source.registered_devices) == (2, 2, 2)
            assert stats.heartbeats == 3
            assert stats.lines == 3 * EPOCH.count(b"\n")
            assert stats.bytes == len(
                b"REG,dtu-1,token-1\r\nREG,dtu-2,token-2\nHB\nHB\r\nHB\n"
            ) + 3 * len(EPOCH)
            assert not stats.rejections
            await close(w1)
            await close(w2)
            await wait_until(lambda: source.stats.active == 0)
            assert source.stats.disconnects == 2 and source.registered_devices == 0

    run(body())


def test_every_byte_boundary_including_the_registration_line() -> None:
    stream = b"REG,dtu-3,token-3\r\n" + EPOCH + b"HB\r\n" + EPOCH

    async def body() -> None:
        async with server() as source:
            _, writer = await connect(source)
            for i in range(len(stream)):
                # Wait until the server has read the byte before, so each read is one byte.
                writer.write(stream[i : i + 1])
                await wait_until(lambda i=i: source.stats.bytes == i + 1, what=f"byte {i}")
            chunks = await collect(source, total=2 * len(EPOCH))
            assert joined(chunks) == 2 * EPOCH
            assert len(chunks) == 2 * EPOCH.count(b"\n")  # one chunk per completed line
            await close(writer)

    run(body())


def test_wrong_token_and_unknown_device_are_closed_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        async with server() as source:
            r1, w1 = await connect(source, b"REG,dtu-1,token-2\n" + EPOCH)
            r2, w2 = await connect(source, b"REG,stranger,token-1\n" + EPOCH)
            assert await closed_by_server(r1) and await closed_by_server(r2)
            await wait_until(lambda: source.stats.active == 0)
            rejections = source.stats.rejections
            assert rejections == {SourceRejection.BAD_TOKEN: 1, SourceRejection.UNKNOWN_DEVICE: 1}
            assert source.stats.chunks == 0 and len(source._channel) == 0
            await close(w1)
            await close(w2)

    with caplog.at_level(logging.INFO, logger="gnss.sources.tcp"):
        run(body())
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any("dtu-1" in m and "bad_token" in m for m in refused)
    assert any("stranger" in m and "unknown_device" in m for m in refused)
    assert "token-2" not in caplog.text and "token-1" not in caplog.text


def test_plain_bool_and_failing_authenticators() -> None:
    async def no(device_id: str, token: str) -> bool:
        return False

    async def broken(device_id: str, token: str) -> bool:
        raise ConnectionError("database unavailable")

    async def body() -> None:
        for authenticator, reason in [
            (no, SourceRejection.DENIED),
            (broken, SourceRejection.AUTH_ERROR),
        ]:
            async with TcpSource(authenticator, host="127.0.0.1", port=0) as source:
                reader, writer = await connect(source, b"REG,dtu-1,token-1\n")
                assert await closed_by_server(reader)
                assert source.stats.rejections == {reason: 1}
                await close(writer)

    run(body())


def test_half_sent_registration_times_out_and_an_abandoned_one_is_counted() -> None:
    async def body() -> None:
        async with server(registration_timeout_s=0.3) as source:
            silent_reader, silent = await connect(source)
            half_reader, half = await connect(source, b"REG,dtu-1,tok")
            _, gone = await connect(source, b"REG,dtu-2")
            await close(gone)
            started = asyncio.get_running_loop().time()
            assert await closed_by_server(silent_reader) and await closed_by_server(half_reader)
            assert 0.25 < asyncio.get_running_loop().time() - started < 2.0
            await wait_until(lambda: source.stats.active == 0)
            assert source.stats.rejections == {
                SourceRejection.REGISTRATION_TIMEOUT: 2,
                SourceRejection.BAD_REGISTRATION: 1,
            }
            await close(silent)
            await close(half)

    run(body())


def test_an_authenticator_that_hangs_is_cut_by_the_registration_timeout() -> None:
    async def hang(device_id: str, token: str) -> bool:
        await asyncio.Event().wait()
        return True

    async def body() -> None:
        async with TcpSource(hang, host="127.0.0.1", port=0, registration_timeout_s=0.2) as source:
            reader, writer = await connect(source, b"REG,dtu-1,token-1\n")
            assert await closed_by_server(reader)
            await wait_until(lambda: not source._auth_tasks, what="auth task cancelled")
            assert source.stats.rejections == {SourceRejection.REGISTRATION_TIMEOUT: 1}
            await close(writer)

    run(body())


def test_garbage_before_registration_closes_garbage_after_is_passed_on() -> None:
    async def body() -> None:
        async with server() as source:
            r1, w1 = await connect(source, GARBAGE)  # a newline at byte 10, not a REG line
            r2, w2 = await connect(source, b"x" * (MAX_PENDING + 10))  # no newline at all
            assert await closed_by_server(r1) and await closed_by_server(r2)
            long_line = b"$" + b"7" * (MAX_PENDING + 100)
            _, w3 = await connect(source, b"REG,dtu-1,token-1\n" + GARBAGE + b"\n")
            await wait_until(lambda: source.registered_devices == 1)
            # The buffer cuts a run it cannot hold; a long line that arrives whole is the
            # parser's to reject.
            w3.write(long_line)
            await wait_until(lambda: source.stats.rejections[SourceRejection.LINE_TOO_LONG] == 1)
            w3.write(b"\n" + EPOCH)
            chunks = await collect(source, total=len(GARBAGE) + len(long_line) + len(EPOCH) + 2)
            data = joined(chunks)
            assert data.startswith(GARBAGE + b"\n") and data.endswith(EPOCH)
            assert long_line in data  # cut into pieces for the parser to reject, not dropped
            assert source.stats.rejections == {
                SourceRejection.BAD_REGISTRATION: 2,
                SourceRejection.LINE_TOO_LONG: 1,
            }
            assert source.stats.active == 1  # the registered device is still connected
            for w in (w1, w2, w3):
                await close(w)

    run(body())


def test_idle_devices_are_closed_heartbeats_keep_them() -> None:
    async def body() -> None:
        async with server(idle_timeout_s=0.3) as source:
            idle_reader, idle = await connect(source, b"REG,dtu-1,token-1\n")
            beating_reader, beating = await connect(source, b"REG,dtu-2,token-2\n")
            for _ in range(8):
                beating.write(b"HB\n")
                await asyncio.sleep(0.1)
            assert await closed_by_server(idle_reader, timeout=0.1)
            assert not beating_reader.at_eof()
            assert source.stats.rejections == {SourceRejection.IDLE_TIMEOUT: 1}
            assert source.stats.heartbeats == 8
            await close(idle)
            await close(beating)

    run(body())


def test_a_device_registering_again_supersedes_its_old_connection() -> None:
    async def body() -> None:
        async with server() as source:
            old_reader, old = await connect(source, b"REG,dtu-1,token-1\n")
            await wait_until(lambda: source.registered_devices == 1)
            _, new = await connect(source, b"REG,dtu-1,token-1\n" + EPOCH)
            assert await closed_by_server(old_reader)
            assert joined(await collect(source, total=len(EPOCH))) == EPOCH
            assert source.stats.rejections == {SourceRejection.SUPERSEDED: 1}
            assert source.registered_devices == 1
            await close(old)
            await close(new)

    run(body())


def test_connections_beyond_the_limit_are_refused() -> None:
    async def body() -> None:
        async with server(max_connections=3) as source:
            pairs = [await connect(source) for _ in range(5)]
            await wait_until(lambda: source.stats.connections == 5)
            closed = [await closed_by_server(r, timeout=0.2) for r, _ in pairs[3:]]
            assert closed == [True, True]
            assert source.stats.rejections == {SourceRejection.TOO_MANY_CONNECTIONS: 2}
            for _, w in pairs:
                await close(w)

    run(body())


def test_a_slow_consumer_stops_the_reading_and_nothing_is_lost() -> None:
    # ~20 MB: more than the socket buffers on both ends and the channel hold together.
    payload = b"".join(EPOCH.replace(b"120000.00", b"12%04d.00" % n) for n in range(50_000))

    async def body() -> None:
        async with server(queue_size=4) as source:
            _, writer = await connect(source, b"REG,dtu-1,token-1\n")
            writer.transport.set_write_buffer_limits(high=2**30)
            writer.write(payload)
            await asyncio.sleep(0.3)
            stalled_at = source.stats.bytes
            await asyncio.sleep(0.2)
            assert source.stats.bytes == stalled_at < len(payload) / 2  # reading stopped
            assert len(source._channel) == 4
            assert writer.transport.get_write_buffer_size() > 0  # the device is held back
            chunks = await collect(source, total=len(payload), timeout=20)
            assert joined(chunks) == payload
            await close(writer)

    run(body())


def test_shutdown_closes_every_connection_and_pending_authentication() -> None:
    gate = asyncio.Event()

    async def slow(device_id: str, token: str) -> bool:
        await gate.wait()
        return True

    async def body() -> None:
        before, tasks = open_fds(), asyncio.all_tasks()
        source = TcpSource(slow, host="127.0.0.1", port=0)
        async with source:
            pairs = [await connect(source, b"REG,dtu-%d,token\n" % n) for n in range(20)]
            pairs.append(await connect(source, b"REG,dtu-x"))
            await wait_until(lambda: len(source._auth_tasks) == 20)
        assert source.stats.active == 0 and not source._auth_tasks
        assert all([await closed_by_server(r) for r, _ in pairs])
        for _, w in pairs:
            await close(w)
        assert open_fds() == before
        assert asyncio.all_tasks() == tasks

    run(body())


def test_a_storm_of_connects_and_disconnects_leaks_nothing() -> None:
    rounds = 2000
    linger_off = struct.pack("ii", 1, 0)  # close with RST, like a device losing its link

    async def one(source: TcpSource, n: int) -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
        sock = writer.transport.get_extra_info("socket")
        kind = n % 4
        if kind == 1:
            writer.write(b"REG,dtu-1,tok")  # half a registration
        elif kind == 2:
            writer.write(b"REG,dtu-%d,token-%d\n" % (n % 10, n % 10) + EPOCH + EPOCH[:30])
        elif kind == 3:
            writer.write(GARBAGE)
        await writer.drain()
        await asyncio.sleep(0.005)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_off)
        writer.transport.abort()

    async def body() -> None:
        async with server() as source:
            await asyncio.sleep(0.05)  # the sweeper task is up
            fds, tasks = open_fds(), len(asyncio.all_tasks())
            slots = asyncio.Semaphore(200)

            async def limited(n: int) -> None:
                async with slots:
                    await one(source, n)

            await asyncio.gather(*(limited(n) for n in range(rounds)))
            await wait_until(lambda: source.stats.active == 0, what="all connections gone")
            await wait_until(lambda: not source._auth_tasks, what="auth tasks done")
            stats = source.stats
            assert stats.connections == rounds
            assert not source._connections and not source._by_device
            assert open_fds() == fds and len(asyncio.all_tasks()) == tasks
            # Every connection is accounted for: dropped by the device, or refused by us.
            closing_reasons = set(SourceRejection) - {
                SourceRejection.PARTIAL_LINE,
                SourceRejection.LINE_TOO_LONG,
            }
            refused = sum(stats.rejections[r] for r in closing_reasons)
            assert stats.disconnects + refused == rounds
            assert stats.rejections[SourceRejection.BAD_REGISTRATION] >= rounds // 4  # half REGs
            # Registered devices delivered their whole epoch; the fragment behind it was dropped.
            delivered = joined(await source.get_batch(100_000))
            assert delivered == EPOCH * stats.rejections[SourceRejection.PARTIAL_LINE]
            assert delivered

    run(body(), timeout=60)
