"""The demo's recorded logs and their move to today: same epochs, new times, valid sentences."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import xor
from pathlib import Path

import pytest

from gnss.logs.reader import decode_log, read_log
from partymap.demo.logs import (
    HISTORY,
    LIVE,
    RECORDED,
    RECORDED_LIVE_START,
    retime_line,
    retime_logs,
)
from partymap.seed import MEMBERS

SHIFT = timedelta(days=204, hours=13, minutes=59, seconds=58, microseconds=250_000)


def checksum_ok(line: bytes) -> bool:
    body, _, given = line[1:].partition(b"*")
    return f"{reduce(xor, body, 0):02X}".encode() == given[:2]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # RMC: time and date move together, across midnight and the month's end.
        (b"$GNRMC,235959.50,A,3036.5,N,11415.9,E,0.0,,300426,,,A,V*00",
         b"$GNRMC,000000.50,A,3036.5,N,11415.9,E,0.0,,010526,,,A,V"),
        # GGA and GLL have a time of day only.
        (b"$GPGGA,235959.5,3036.5,N,11415.9,E,1,08,0.9,20.0,M,8.3,M,,*00",
         b"$GPGGA,000000.5,3036.5,N,11415.9,E,1,08,0.9,20.0,M,8.3,M,,"),
        (b"$GNGLL,3036.5,N,11415.9,E,235959.50,A,A*00", b"$GNGLL,3036.5,N,11415.9,E,000000.50,A,A"),
        # ZDA carries day, month and year in fields of their own.
        (b"$GNZDA,235959.500,31,12,2026,00,00*00", b"$GNZDA,000000.500,01,01,2027,00,00"),
    ],
)  # fmt: skip
def test_one_second_across_midnight(line: bytes, expected: bytes) -> None:
    moved = retime_line(line, timedelta(seconds=1))
    assert moved.partition(b"*")[0] == expected
    assert checksum_ok(moved)


@pytest.mark.parametrize(
    "line",
    [
        b"$GPGSV,3,1,11,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45*75",
        b"$GPTXT,01,01,02,ANTENNA OK*35",
        b"$GNRMC,,V,,,,,,,,,,N,V*37",  # cold start: no time yet
        b"\xba\xce\x01\x02binary",
        b"# Receiver: a comment",
        b"$GNRMC,99x,A*00",  # unreadable time: the pipeline judges it, not this
    ],
)
def test_lines_without_a_time_stay_as_they_are(line: bytes) -> None:
    assert retime_line(line, SHIFT) == line


def test_recorded_logs_move_to_today_fix_for_fix(tmp_path: Path) -> None:
    live_start = datetime(2026, 11, 21, 15, 4, 7, tzinfo=UTC)
    copies = retime_logs(RECORDED, tmp_path, live_start)
    assert len(copies[HISTORY]) == len(list((RECORDED / HISTORY).glob("*.nmea")))
    original = RECORDED / LIVE / copies[LIVE][0].name
    before = decode_log(read_log(original)).fixes
    after = decode_log(read_log(copies[LIVE][0])).fixes
    assert len(after) == len(before) > 10
    shift = live_start - RECORDED_LIVE_START
    assert [f.time for f in after] == [f.time + shift for f in before]
    assert [(f.lat, f.lon, f.sats_used) for f in after] == [
        (f.lat, f.lon, f.sats_used) for f in before
    ]
    assert after[0].time >= live_start and after[-1].time < live_start + timedelta(minutes=8)


def test_every_demo_device_with_a_story_has_its_logs() -> None:
    """Named by the device uid, so the demo can replay each as its device: an NMEA log for a
    receiver, a recorded JT/T 808 session for a helmet."""
    devices = {m.device for m in MEMBERS}
    helmets = {m.device for m in MEMBERS if m.helmet}
    for part in (LIVE, HISTORY):
        assert {p.stem for p in (RECORDED / part).glob("*.jt808")} == helmets
        assert not {p.stem for p in (RECORDED / part).glob("*.nmea")} & helmets
    live = {p.stem for p in (RECORDED / LIVE).glob("*.nmea")} | helmets
    history = {p.stem for p in (RECORDED / HISTORY).glob("*.nmea")} | helmets
    assert live <= devices and history <= devices
    silent = devices - history
    assert len(silent) == 1  # 吴婷's receiver never reports: "no position" on the map
    assert len(live) >= 30


def test_the_stories_behind_the_logs_run_forward_to_the_end() -> None:
    """Stops in time order, and every device but the one that goes silent on purpose keeps
    reporting to the end of the recording (a story that stops early leaves a member hanging)."""
    spec = importlib.util.spec_from_file_location("demo_generate", RECORDED / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = generate  # its dataclasses look their module up
    try:
        spec.loader.exec_module(generate)
    finally:
        del sys.modules[spec.name]
    for name, stops in generate.STORIES.items():
        assert [s.t for s in stops] == sorted(s.t for s in stops), name
        if name != "朱琳":
            assert stops[-1].t == generate.LIVE_S, name
