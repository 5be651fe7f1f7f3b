"""Replay of recorded logs: byte-exact, resumable from every offset, paced by time tags."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gnss.model import RawChunk
from gnss.nmea.framing import MAX_PENDING
from gnss.sources import ReplaySource, SourceRejection
from gnss.sources.replay import time_tag
from tests.conftest import GPSD_ANCHORS
from tests.sources.helpers import EPOCH, GARBAGE, epoch_at, joined, run


def replay(path: Path, **options: object) -> tuple[list[RawChunk], ReplaySource]:
    async def body() -> tuple[list[RawChunk], ReplaySource]:
        async with ReplaySource(path, "log-1", **options) as source:  # type: ignore[arg-type]
            return [c async for c in source], source

    return run(body())


def without_comments(data: bytes) -> bytes:
    lines = data.split(b"\n")
    kept = b"\n".join(line for line in lines[:-1] if not line.startswith(b"#"))
    kept += b"\n" if kept else b""
    return kept + lines[-1] + b"\n" if lines[-1] else kept


def same_lines(got: bytes, data: bytes) -> bool:
    """``got`` is ``data`` without comments, but for newlines added to cut overlong runs."""
    expected = without_comments(data)
    if max(map(len, data.split(b"\n"))) <= MAX_PENDING:
        return got == expected
    return got.replace(b"\n", b"") == expected.replace(b"\n", b"")


def check_replay(path: Path, chunk_bytes: int, **options: object) -> list[RawChunk]:
    """Every property a replay promises, for one log and chunk size."""
    data = path.read_bytes()
    chunks, source = replay(path, chunk_bytes=chunk_bytes, **options)
    assert same_lines(joined(chunks), data)
    # Each chunk ends where its offset says: exactly the log's lines up to there.
    previous = 0
    for chunk in chunks:
        assert chunk.offset is not None and chunk.offset >= previous
        assert same_lines(chunk.data, data[previous : chunk.offset])
        previous = chunk.offset
    assert previous == len(data)
    assert all(len(c.data) <= chunk_bytes and c.data[-1:] in (b"\n", b"") for c in chunks)
    assert source.stats.lines == joined(chunks).count(b"\n")
    # Resuming from any committed offset gives exactly what came after it.
    for chunk in chunks[:: max(1, len(chunks) // 5)]:
        assert chunk.offset is not None
        rest, _ = replay(path, chunk_bytes=chunk_bytes, start_offset=chunk.offset, **options)
        assert same_lines(joined(rest), data[chunk.offset :])
    return chunks


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "walk.log"
    gsa = EPOCH.splitlines(keepends=True)[2]  # a line without a time tag
    body = b"".join(epoch_at(s) + gsa for s in range(300))
    cut = body.index(b"\n", 5000) + 1
    path.write_bytes(b"# Name: a walk\n# Notes: test\n" + body[:cut] + b"# mid\n" + body[cut:])
    return path


@pytest.mark.parametrize("chunk_bytes", [MAX_PENDING + 2, 10_000, 64 * 1024])
def test_fast_replay_is_byte_exact_bounded_and_resumable(log: Path, chunk_bytes: int) -> None:
    chunks = check_replay(log, chunk_bytes)
    assert len(chunks) >= log.stat().st_size // chunk_bytes


def test_an_unterminated_last_line_and_garbage_come_through(tmp_path: Path) -> None:
    path = tmp_path / "broken.log"
    path.write_bytes(GARBAGE + b"\n#c\n" + b"z" * (3 * MAX_PENDING) + b"\n" + EPOCH[:50])
    chunks = check_replay(path, MAX_PENDING + 2)
    assert joined(chunks).endswith(b"\n" + EPOCH[:50] + b"\n")
    _, source = replay(path, chunk_bytes=MAX_PENDING + 2)
    assert source.stats.rejections[SourceRejection.LINE_TOO_LONG] >= 1


def test_paced_replay_follows_the_time_tags(log: Path) -> None:
    path = log.with_name("short.log")
    path.write_bytes(b"".join(epoch_at(s) for s in (0, 1, 2, 4)))  # a 1 s gap at 3

    async def body() -> list[tuple[float, RawChunk]]:
        loop = asyncio.get_running_loop()
        async with ReplaySource(path, "log-1", speed=10) as source:
            started = loop.time()
            return [(loop.time() - started, c) async for c in source]

    timed = run(body())
    assert [c.data for _, c in timed] == [epoch_at(s) for s in (0, 1, 2, 4)]  # one epoch each
    for (at, _), due in zip(timed, (0.0, 0.1, 0.2, 0.4), strict=True):
        assert due - 0.01 <= at < due + 0.15


def test_paced_replay_chunks_are_epochs_and_resumable(log: Path) -> None:
    chunks = check_replay(log, 64 * 1024, speed=1e6)
    tagged = [c for c in chunks if c.data.startswith(b"$GNGGA")]
    assert len(tagged) == 300 and all(c.data.count(b"\n") == 3 for c in tagged)


def test_paced_replay_crosses_midnight_and_never_waits_backwards(tmp_path: Path) -> None:
    path = tmp_path / "midnight.log"
    lines = [
        b"$GNRMC,235959.00,A*00\n",
        b"$GNRMC,000000.00,A*00\n",  # one second later, not a day earlier
        b"$GNRMC,235958.00,A*00\n",  # a late line: released at once
        b"$GNRMC,000000.50,A*00\n",
    ]
    path.write_bytes(b"".join(lines))

    async def body() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with ReplaySource(path, "log-1", speed=10) as source:
            assert [c.data async for c in source] == lines
        return loop.time() - started

    assert 0.14 <= run(body()) < 0.5  # 1.5 s of log at ten times real time


@pytest.mark.parametrize(
    ("line", "tag"),
    [(b"$GPGGA,120000.00,3030.0,N", 43200.0), (b"$BDGNS,000001,x", 1.0),
     (b"$GNZDA,235959.999,01,05,2026,,", 86399.999), (b"!AIGGA,010203.5,", 3723.5),
     (b"$GPGSV,3,1,11", None), (b"$GPGGA,,,,", None), (b"$GPGGA,12a000.00,", None),
     (b"$GPGGA,250000.00,", None), (b"$GPRMC,120000.xx,", None), (b"GPGGA,120000,", None),
     (b"$PQGGA", None), (b"", None)],
)  # fmt: skip
def test_time_tags(line: bytes, tag: float | None) -> None:
    assert time_tag(line) == tag


def test_bad_configuration_raises() -> None:
    with pytest.raises(ValueError):
        ReplaySource("x.log", "d", speed=0)
    with pytest.raises(ValueError):
        ReplaySource("x.log", "d", chunk_bytes=100)

    async def body() -> None:
        async with ReplaySource("/nonexistent.log", "d") as source:
            with pytest.raises(FileNotFoundError):
                await source.get_batch()

    run(body())


if GPSD_ANCHORS.is_dir():  # the corpus of real receiver logs, when it is next to the checkout

    @pytest.mark.parametrize("path", sorted(GPSD_ANCHORS.glob("*.log")), ids=lambda p: p.name)
    def test_every_recorded_log_replays_exactly(path: Path) -> None:
        check_replay(path, 16 * 1024)
        check_replay(path, 16 * 1024, speed=1e9)
