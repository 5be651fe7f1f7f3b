"""The demo's recorded logs, moved to today: every NMEA time tag shifted by one offset.

The logs in ``fixtures/demo`` were recorded against a fixed clock (:data:`RECORDED_LIVE_START`
is when their live part begins). ``partymap demo`` copies them with every time and date moved
by the same amount, so that the live part starts now: the map then shows current positions,
the meeting seeded for "now" is the one the logs attend, and the ingestion pipeline — which the
copies are replayed through unchanged — sees fixes as recent as they would be from devices in
the field. Only time fields change; checksums are recomputed; other lines (comments, binary
receiver packets) are copied as they are.

>>> shift = timedelta(days=1, hours=1, seconds=30)
>>> retime_line(b"$GNRMC,233000.00,A,3036.5,N,11415.9,E,0.0,,300426,,,A,V*00", shift)
b'$GNRMC,003030.00,A,3036.5,N,11415.9,E,0.0,,020526,,,A,V*1D'
>>> retime_line(b"$GPGGA,,,,,,0,00,99.99,,,,,,*48", shift)  # cold start: no time yet
b'$GPGGA,,,,,,0,00,99.99,,,,,,*48'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import xor
from pathlib import Path

RECORDED_LIVE_START = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
HISTORY, LIVE = "history", "live"
# The recorded logs, in the checkout (fixtures/demo/generate.py writes them).
RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "demo"

# Sentence type → index of its time field (after the address field).
_TIME_FIELD = {b"GGA": 1, b"RMC": 1, b"GNS": 1, b"GST": 1, b"ZDA": 1, b"GLL": 5}
_DAY_S = 86400


def retime_line(line: bytes, shift: timedelta) -> bytes:
    """One line with its time (and date) moved by ``shift``; anything else unchanged."""
    if not line.startswith(b"$") or b"*" not in line:
        return line
    body, _, _ = line[1:].partition(b"*")
    fields = body.split(b",")
    index = _TIME_FIELD.get(fields[0][2:])
    if index is None or len(fields) <= index or not fields[index]:
        return line
    try:
        if fields[0][2:] == b"RMC" and len(fields) > 9 and fields[9]:
            when = _parse(fields[index], b"%d%m%y", fields[9]) + shift
            fields[9] = when.strftime("%d%m%y").encode()
        elif fields[0][2:] == b"ZDA" and len(fields) > 4 and fields[4]:
            date = b"".join(fields[2:5])
            when = _parse(fields[index], b"%d%m%Y", date) + shift
            fields[2:5] = [when.strftime(f).encode() for f in ("%d", "%m", "%Y")]
        else:  # time of day only: the date comes from RMC or ZDA of the same epoch
            when = _parse(fields[index], b"%d%m%y", b"010100") + shift
    except ValueError:
        return line  # not a time we can read: leave it for the pipeline to judge
    fields[index] = _format_time(when, fields[index])
    body = b",".join(fields)
    return b"$" + body + b"*" + f"{reduce(xor, body, 0):02X}".encode()


def retime_log(source: Path, target: Path, shift: timedelta) -> None:
    """Copy the log at ``source`` to ``target`` with every line retimed."""
    lines = source.read_bytes().split(b"\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(
        b"\n".join(
            retime_line(line.rstrip(b"\r"), shift) + (b"\r" if line.endswith(b"\r") else b"")
            for line in lines
        )
    )


def retime_logs(recorded: Path, target: Path, live_start: datetime) -> dict[str, list[Path]]:
    """Copies of the ``history`` and ``live`` logs under ``recorded``, moved so that the live
    part starts at ``live_start``; by part, each list sorted by file name (the device uid)."""
    shift = live_start - RECORDED_LIVE_START
    out: dict[str, list[Path]] = {}
    for part in (HISTORY, LIVE):
        out[part] = []
        for log in sorted((recorded / part).glob("*.nmea")):
            copy = target / part / log.name
            retime_log(log, copy, shift)
            out[part].append(copy)
    return out


def _parse(time_field: bytes, date_format: bytes, date: bytes) -> datetime:
    hhmmss, _, fraction = time_field.partition(b".")
    base = datetime.strptime((date + hhmmss).decode(), (date_format + b"%H%M%S").decode())
    micros = int((fraction + b"000000")[:6]) if fraction else 0
    return base.replace(microsecond=micros, tzinfo=UTC)


def _format_time(when: datetime, original: bytes) -> bytes:
    decimals = len(original.partition(b".")[2])
    text = when.strftime("%H%M%S")
    if b"." in original:
        text += "." + f"{when.microsecond:06d}"[:decimals]
    return text.encode()
