"""Many location reports at once: the batch twin of :mod:`gnss.jt808.location` and of
:func:`partymap.ingest.terminal_fixes.location_fix`.

The JT/T 808 server collects the bodies of the 0x0200 reports its authenticated terminals
sent in one moment and reads them here together: one compiled loop over the bodies
(:func:`read_locations`) gives the basic information and item 0x31 as columns, with each
body's verdict, and :func:`location_table` turns the good rows into a
:class:`~gnss.fixtable.FixTable`, never building a :class:`~gnss.jt808.location.Location` or a
:class:`~gnss.model.Fix`. A body is accepted or refused exactly as the reference decoder does
(shorter than 28 bytes: ``too_short``; a time that is not BCD or not a date, or a latitude or
longitude out of range: ``bad_field``), and its fix equals the reference path's — the tests
compare both on every kind of body.

>>> from datetime import datetime
>>> from gnss.jt808.location import LOCATION, Location, Status
>>> loc = Location(0, Status.POSITIONED | Status.BEIDOU | Status.SOUTH, 22_500_000, 114_000_000,
...                36, 75, 90, datetime(2026, 5, 1, 8, 0), extras=((0x31, bytes([9])),))
>>> body = LOCATION.write(loc)
>>> cols = read_locations(body + b"\\x00" * 3, np.array([0, len(body)]),
...                       np.array([len(body), len(body) + 3]))
>>> cols.verdict.tolist(), cols.sats.tolist()
([0, 1], [9, -1])
>>> table = location_table(cols, np.array([0]), utc_offset_s=np.array([8 * 3600]),
...                        accuracy_m=np.array([10.0]), received_s=np.array([0.0]))
>>> fix = table.fixes()[0]
>>> fix.time.isoformat(), fix.lat, fix.beidou_used, fix.raw_position == "jt808:" + body[:28].hex()
('2026-05-01T00:00:00+00:00', -22.5, 9, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gnss.fixtable import SYSTEMS, FixTable, span_hashes
from gnss.jit import compiled
from gnss.jt808.location import BASIC_SIZE, ITEM_SATELLITES, KMH_TENTH_MPS, Status
from gnss.jt808.reasons import FrameReason
from gnss.model import Constellation, FixMode, FixQuality

__all__ = ["NO_TIME", "VERDICTS", "LocationColumns", "location_table", "read_locations"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

# A body's verdict: accepted, or the reason the reference decoder refuses it for.
VERDICTS = (None, FrameReason.TOO_SHORT, FrameReason.BAD_FIELD, FrameReason.CHECKSUM)
_OK, _TOO_SHORT, _BAD_FIELD, _CHECKSUM = 0, 1, 2, 3
NO_TIME = np.iinfo(np.int64).min  # the terminal sent an all-zero time: it never had a fix
_MAX_LAT, _MAX_LON = 90_000_000, 180_000_000
_BEIDOU = SYSTEMS.index(Constellation.BEIDOU)
_PREFIX = b"jt808:"
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(slots=True, eq=False)
class LocationColumns:
    """The basic information of each body, as sent (see :class:`~gnss.jt808.location.Location`),
    the first item 0x31 (−1: none or malformed), and the verdict (0 accepted, else an index of
    :data:`VERDICTS`). ``device_s``: the terminal's clock as seconds since 1970 read as if it
    were UTC (:data:`NO_TIME`: none). Values of refused rows are meaningless."""

    buf: bytes
    start: Ints
    verdict: npt.NDArray[np.int8]
    alarm: Ints
    status: Ints
    lat_microdeg: Ints
    lon_microdeg: Ints
    alt_m: Ints
    speed_tenth_kmh: Ints
    heading_deg: Ints
    device_s: Ints
    sats: Ints

    def __len__(self) -> int:
        return len(self.start)


def read_locations(
    buf: bytes, start: Ints, end: Ints, frame: Ints | None = None
) -> LocationColumns:
    """Each body ``buf[start:end]`` read as a location. ``frame``: where each body's frame
    begins (its header), when the frame's check code, the byte after the body, is still to be
    verified (a frame it does not check is refused for its ``checksum``)."""
    n = len(start)
    start = np.asarray(start, dtype=np.int64)
    verdict = np.zeros(n, dtype=np.int8)
    values = np.zeros((9, n), dtype=np.int64)
    values[8] = -1
    checked = np.full(n, -1, np.int64) if frame is None else np.asarray(frame, np.int64)
    a = np.frombuffer(buf, dtype=np.uint8)
    _read(a, start, np.asarray(end, np.int64), checked, verdict, values)
    alarm, status, lat, lon, alt, speed, heading, device_s, sats = values
    return LocationColumns(
        buf, start, verdict, alarm, status, lat, lon, alt, speed, heading, device_s, sats
    )


def location_table(
    cols: LocationColumns,
    rows: Ints,
    *,
    utc_offset_s: Ints,
    accuracy_m: Floats,
    received_s: Floats,
) -> FixTable:
    """The fixes of accepted ``rows`` that carry a time, in order (the other arguments: one
    value per row). A device code of −1 stands for the device (the caller knows it by row)."""
    rows = np.asarray(rows, dtype=np.int64)
    timed = cols.device_s[rows] != NO_TIME
    rows, offset = rows[timed], np.asarray(utc_offset_s)[timed]
    accuracy, received = np.asarray(accuracy_m)[timed], np.asarray(received_s)[timed]
    n = len(rows)
    status = cols.status[rows]
    positioned = (status & Status.POSITIONED) != 0
    south, west = (status & Status.SOUTH) != 0, (status & Status.WEST) != 0
    lat = np.where(south, -cols.lat_microdeg[rows], cols.lat_microdeg[rows]) / 1e6
    lon = np.where(west, -cols.lon_microdeg[rows], cols.lon_microdeg[rows]) / 1e6
    sats = cols.sats[rows]
    used = np.zeros((n, len(SYSTEMS)), dtype=np.int16)
    used[:, _BEIDOU] = np.where(((status & Status.BEIDOU) != 0) & (sats > 0), sats, 0)
    nan = np.full(n, np.nan)

    def placed(values: Floats) -> Floats:
        return np.where(positioned, values, np.nan)

    # The raw position: "jt808:" and the basic information in hex, for positioned fixes.
    basic = np.frombuffer(cols.buf, dtype=np.uint8)[
        cols.start[rows, None] + np.arange(BASIC_SIZE)
    ].reshape(n, BASIC_SIZE)
    digits = np.empty((n, 2 * BASIC_SIZE), dtype=np.uint8)
    digits[:, 0::2], digits[:, 1::2] = _HEX[basic >> 4], _HEX[basic & 15]
    prefix = np.broadcast_to(np.frombuffer(_PREFIX, dtype=np.uint8), (n, len(_PREFIX)))
    width = len(_PREFIX) + 2 * BASIC_SIZE
    text = np.hstack([prefix, digits]).tobytes()
    begin = np.arange(n, dtype=np.int64) * width
    hashes = np.zeros(n, dtype=np.int64)
    placed_rows = np.flatnonzero(positioned)
    hashes[placed_rows] = span_hashes(text, begin[placed_rows], begin[placed_rows] + width)
    return FixTable(
        device=np.full(n, -1, dtype=np.int64),
        time_us=(cols.device_s[rows] - offset) * 1_000_000,
        received_s=received.astype(np.float64),
        lat=placed(lat.astype(np.float64)),
        lon=placed(lon.astype(np.float64)),
        alt_m=placed(cols.alt_m[rows].astype(np.float64)),
        mode=np.where(positioned, FixMode.THREE_D, FixMode.NO_FIX).astype(np.int8),
        quality=np.where(positioned, FixQuality.GPS, FixQuality.INVALID).astype(np.int8),
        hdop=nan,
        pdop=nan.copy(),
        vdop=nan.copy(),
        sats_used=sats.astype(np.int16),
        used=used,
        in_view=np.zeros((n, len(SYSTEMS)), dtype=np.int16),
        speed_mps=placed((cols.speed_tenth_kmh[rows] * KMH_TENTH_MPS).astype(np.float64)),
        course_deg=placed(cols.heading_deg[rows].astype(np.float64)),
        sigma=np.full((n, 3), np.nan),
        accuracy_m=placed(accuracy.astype(np.float64)),
        raw_hash=hashes,
        raw_start=np.where(positioned, begin, -1),
        raw_end=np.where(positioned, begin + width, -1),
        text=text,
    )


@compiled
def _u32(buf: npt.NDArray[np.uint8], at: int) -> int:
    return int(
        (np.int64(buf[at]) << 24)
        | (np.int64(buf[at + 1]) << 16)
        | (np.int64(buf[at + 2]) << 8)
        | np.int64(buf[at + 3])
    )


@compiled
def _u16(buf: npt.NDArray[np.uint8], at: int) -> int:
    return int((np.int64(buf[at]) << 8) | np.int64(buf[at + 1]))


@compiled
def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return int(era * 146097 + doe - 719468)


@compiled
def _month_days(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    # Compared one by one: a set literal would be built on every call of the compiled loop.
    return 30 if month == 4 or month == 6 or month == 9 or month == 11 else 31  # noqa: PLR1714


@compiled
def _read(  # noqa: PLR0917  (a compiled loop takes its arrays by position)
    buf: npt.NDArray[np.uint8],
    start: Ints,
    end: Ints,
    checked: Ints,
    verdict: npt.NDArray[np.int8],
    out: Ints,
) -> None:
    fields = np.empty(6, dtype=np.int64)
    for i in range(len(start)):
        a, e = start[i], end[i]
        if checked[i] >= 0:
            code = 0
            for j in range(checked[i], e + 1):
                code ^= buf[j]
            if code != 0:  # the check code XORs the rest to zero
                verdict[i] = _CHECKSUM
                continue
        if e - a < BASIC_SIZE:
            verdict[i] = _TOO_SHORT
            continue
        out[0, i] = _u32(buf, a)
        out[1, i] = _u32(buf, a + 4)
        lat = _u32(buf, a + 8)
        lon = _u32(buf, a + 12)
        out[2, i] = lat
        out[3, i] = lon
        alt = _u16(buf, a + 16)
        out[4, i] = alt - 65536 if alt >= 32768 else alt
        out[5, i] = _u16(buf, a + 18)
        out[6, i] = _u16(buf, a + 20)
        bcd = True
        zero = True
        for k in range(6):
            b = np.int64(buf[a + 22 + k])
            if b != 0:
                zero = False
            if (b >> 4) > 9 or (b & 15) > 9:
                bcd = False
            fields[k] = (b >> 4) * 10 + (b & 15)
        if zero:
            out[7, i] = NO_TIME
        elif not bcd:
            verdict[i] = _BAD_FIELD
            continue
        else:
            year, month, day = 2000 + fields[0], fields[1], fields[2]
            hour, minute, second = fields[3], fields[4], fields[5]
            if not (
                1 <= month <= 12
                and 1 <= day <= _month_days(year, month)
                and hour < 24
                and minute < 60
                and second < 60
            ):
                verdict[i] = _BAD_FIELD
                continue
            days = _days_from_civil(year, month, day)
            out[7, i] = days * 86400 + hour * 3600 + minute * 60 + second
        if lat > _MAX_LAT or lon > _MAX_LON:
            verdict[i] = _BAD_FIELD
            continue
        # Item 0x31: the first one, if it holds one byte (as Location.sats_used reads it).
        at = a + BASIC_SIZE
        while at + 2 <= e and at + 2 + np.int64(buf[at + 1]) <= e:
            size = np.int64(buf[at + 1])
            if buf[at] == ITEM_SATELLITES:
                if size == 1:
                    out[8, i] = np.int64(buf[at + 2])
                break
            at += 2 + size
