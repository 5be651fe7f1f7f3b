"""``partymap gnss fixes --jsonl`` a piece at a time: the same lines as the reference path.

The batch path reads a log in pieces of whole lines (:func:`gnss.logs.reader.read_pieces`) and
writes each piece's fixes from columns; the reference path decodes the whole log line by line
and writes one ``Fix`` at a time. Both must print the same bytes and the same summary, on every
recorded log (broken lines included) and on gpsd's test logs when they are present.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devkit.simulate import TrackPoint, family, simulate
from gnss.logs.export import fix_jsonl, table_jsonl
from gnss.logs.reader import LogTables, decode_log, read_log, read_pieces
from gnss.model import Constellation
from partymap.cli import app
from tests.conftest import FIXTURES, GPSD_ANCHORS

OURS = sorted((FIXTURES / "nmea").glob("*.nmea"))
GPSD = sorted(GPSD_ANCHORS.glob("*.log")) if GPSD_ANCHORS.is_dir() else []
# gpsd's logs declare delay cookies, CR-only and mixed line ends, binary and glued sentences.
COOKIE_LOGS = [p for p in GPSD if b"Delay-Cookie" in p.read_bytes()[:4096]]


def _fixes(path: Path, *options: str) -> tuple[bytes, str]:
    result = CliRunner().invoke(app, ["gnss", "fixes", str(path), "--jsonl", *options])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes, result.stderr


@pytest.mark.parametrize("path", OURS + GPSD, ids=lambda p: p.name)
def test_the_batch_path_prints_what_the_reference_prints(path: Path) -> None:
    fast, fast_summary = _fixes(path)
    reference, reference_summary = _fixes(path, "--reference")
    assert fast == reference
    assert fast_summary == reference_summary
    assert fast_summary.startswith("lines: ")


@pytest.mark.parametrize("size", [1, 64, 1000])
@pytest.mark.parametrize(
    "path", [FIXTURES / "nmea" / "broken.nmea", *COOKIE_LOGS[:3]], ids=lambda p: p.name
)
def test_pieces_of_any_size_give_the_whole_logs_lines_and_fixes(path: Path, size: int) -> None:
    pieces = list(read_pieces(path, size=size))
    assert b"".join(pieces) == read_log(path)
    assert all(p.endswith(b"\n") for p in pieces[:-1])
    longest = max(map(len, read_log(path).splitlines(keepends=True)))
    assert all(len(p) <= size + longest for p in pieces[1:])  # the first holds the header
    tables = LogTables(pieces)
    lines = b"".join(table_jsonl(t) for t in tables)
    whole = decode_log(read_log(path), fast=False)
    assert lines.decode() == "".join(f"{fix_jsonl(f)}\n" for f in whole.fixes)
    assert tables.counts == whole.counts


def test_a_log_with_no_line_end_is_one_piece(tmp_path: Path) -> None:
    log = tmp_path / "one.nmea"
    log.write_bytes(b"$GPZDA,120000,01,05,2026,,*49")
    assert list(read_pieces(log, size=4)) == [b"$GPZDA,120000,01,05,2026,,*49"]


def test_an_empty_log_has_no_pieces_and_no_fixes(tmp_path: Path) -> None:
    log = tmp_path / "empty.nmea"
    log.write_bytes(b"")
    assert list(read_pieces(log)) == []
    assert _fixes(log) == (b"", "lines: 0 read, 0 accepted, 0 rejected\n" + _epochs(0))


def _epochs(fixes: int) -> str:
    return f"epochs: {fixes} fixes, 0 without a time, 0 without a date\n"


@pytest.fixture(scope="module")
def long_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hours of a BeiDou receiver: far more output than a pipe holds."""
    start = datetime(2026, 5, 1, tzinfo=UTC)
    track = [
        TrackPoint(start + timedelta(seconds=k), 30.59 + k * 2e-6, 114.30) for k in range(7200)
    ]
    receiver = family("casic", signals={Constellation.GPS: ("1",), Constellation.BEIDOU: ("1",)})
    path = tmp_path_factory.mktemp("long") / "long.nmea"
    path.write_bytes(b"".join(line + b"\r\n" for line in simulate(track, receiver, seed=1)))
    return path


def test_as_a_process_into_a_pipe_closed_early_the_summary_covers_the_whole_log(
    long_log: Path,
) -> None:
    main = "from partymap.cli import main; main()"
    command = [sys.executable, "-c", main, "gnss", "fixes", str(long_log), "--jsonl"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # as `| head -1` does
        summary = process.stderr.read().decode()
        assert process.wait(timeout=120) == 0, summary
    expected = decode_log(read_log(long_log), fast=False)
    assert first.decode() == fix_jsonl(expected.fixes[0]) + "\n"
    assert summary == expected.counts.summary() + "\n"
