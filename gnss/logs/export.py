"""A ``Fix`` as the JSON object of ``partymap gnss fixes --jsonl`` (DESIGN §7).

Keys, in this order: ``time`` (ISO 8601 UTC, milliseconds, ``Z``), ``lat``, ``lon`` (degrees),
``alt_m`` (metres above mean sea level), ``mode`` (1 no fix, 2 2D, 3 3D, as gpsd), ``quality``
(GGA fix quality 0–8: 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float…), ``hdop``, ``pdop``, ``vdop``,
``sats_used``, ``sats_used_by_system`` and ``sats_in_view_by_system`` (constellation name →
count, e.g. ``{"BEIDOU": 14, "GPS": 8}``), ``speed_mps``, ``course_deg`` (true), ``accuracy_m``
(estimated horizontal one-sigma error). Unknown values are ``null``.

:func:`fix_jsonl` writes one ``Fix``; :func:`table_jsonl` writes a whole
:class:`~gnss.fixtable.FixTable` from its columns with orjson, byte for byte the same lines, for
``partymap gnss fixes --jsonl`` on the batch path (no ``Fix`` objects on the way).

>>> from datetime import datetime, UTC
>>> from gnss.model import Fix
>>> fix = Fix(time=datetime(2026, 5, 1, 8, 0, 0, 250000, tzinfo=UTC), lat=30.5, lon=114.25)
>>> fix_json(fix)["time"]
'2026-05-01T08:00:00.250Z'
>>> table = FixTable.from_fixes([fix], np.zeros(1, np.int64))
>>> table_jsonl(table) == (fix_jsonl(fix) + "\\n").encode()
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from gnss.fixtable import SYSTEMS, FixTable
from gnss.model import Constellation, Fix

__all__ = ["FIELDS", "fix_json", "fix_jsonl", "iso_time", "table_jsonl"]

FIELDS = (
    "time",
    "lat",
    "lon",
    "alt_m",
    "mode",
    "quality",
    "hdop",
    "pdop",
    "vdop",
    "sats_used",
    "sats_used_by_system",
    "sats_in_view_by_system",
    "speed_mps",
    "course_deg",
    "accuracy_m",
)
JsonValue = str | int | float | dict[str, int] | None


def iso_time(time: datetime) -> str:
    """UTC, milliseconds (microseconds when the receiver gave them)."""
    micros = time.microsecond
    fraction = f"{micros // 1000:03d}" if micros % 1000 == 0 else f"{micros:06d}"
    return f"{time:%Y-%m-%dT%H:%M:%S}.{fraction}Z"


def _systems(counts: Mapping[Constellation, int]) -> dict[str, int]:
    return {system.value: counts[system] for system in Constellation if system in counts}


def fix_json(fix: Fix) -> dict[str, JsonValue]:
    return {
        "time": iso_time(fix.time),
        "lat": fix.lat,
        "lon": fix.lon,
        "alt_m": fix.alt_m,
        "mode": int(fix.mode),
        "quality": int(fix.quality),
        "hdop": fix.hdop,
        "pdop": fix.pdop,
        "vdop": fix.vdop,
        "sats_used": fix.sats_used,
        "sats_used_by_system": _systems(fix.sats_used_by_system),
        "sats_in_view_by_system": _systems(fix.sats_in_view_by_system),
        "speed_mps": fix.speed_mps,
        "course_deg": fix.course_deg,
        "accuracy_m": fix.accuracy_m,
    }


def fix_jsonl(fix: Fix) -> str:
    """One line of ``--jsonl`` output (no newline)."""
    return json.dumps(fix_json(fix), ensure_ascii=False, separators=(", ", ": "))


# -- a whole table at once --------------------------------------------------------------------

# Python's float repr and orjson's agree except below 1e-4, where Python writes an exponent
# (5e-05) and orjson does not (0.00005); such rows, and years before 1000 (which numpy pads
# and strftime does not), are written by fix_jsonl's encoder instead.
_TINY = 1e-4
_YEAR_1000_US = int(
    (datetime(1000, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC))
    / timedelta(microseconds=1)
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def table_jsonl(table: FixTable) -> bytes:
    """Every row of ``table`` as a line of ``--jsonl`` output (each line ends in a newline)."""
    n = len(table)
    if not n:
        return b""
    floats = [
        table.lat,
        table.lon,
        table.alt_m,
        table.hdop,
        table.pdop,
        table.vdop,
        table.speed_mps,
        table.course_deg,
        table.accuracy_m,
    ]
    lat, lon, alt_m, hdop, pdop, vdop, speed, course, accuracy = (_optional(c) for c in floats)
    columns: tuple[list[Any], ...] = (
        _iso_times(table.time_us),
        lat,
        lon,
        alt_m,
        table.mode.tolist(),
        table.quality.tolist(),
        hdop,
        pdop,
        vdop,
        [None if s < 0 else s for s in table.sats_used.tolist()],
        _system_dicts(table.used),
        _system_dicts(table.in_view),
        speed,
        course,
        accuracy,
    )  # in the order of FIELDS
    times = columns[0]
    rows = [
        {
            "time": t,
            "lat": la,
            "lon": lo,
            "alt_m": al,
            "mode": mo,
            "quality": qu,
            "hdop": hd,
            "pdop": pd,
            "vdop": vd,
            "sats_used": su,
            "sats_used_by_system": us,
            "sats_in_view_by_system": vi,
            "speed_mps": sp,
            "course_deg": co,
            "accuracy_m": ac,
        }
        for t, la, lo, al, mo, qu, hd, pd, vd, su, us, vi, sp, co, ac in zip(*columns, strict=True)
    ]
    # One call for the whole table (a tenth of the cost of one per row), then a row per line:
    # every row starts with its time, so '},{"time":' is found only between rows.
    text = orjson.dumps(rows)[1:-1].replace(b'},{"time":', b'}\n{"time":') + b"\n"
    python = _python_rows(table, floats).tolist()
    if python:
        lines = text.split(b"\n")
        for i in python:
            row = rows[i]
            if times[i] is None:
                row["time"] = iso_time(_EPOCH + timedelta(microseconds=int(table.time_us[i])))
            lines[i] = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
        text = b"\n".join(lines)
    # orjson is compact; the format has a space after each separator. Keys are the only
    # strings followed by ':' or preceded by ',"', so the replacements touch nothing else.
    return text.replace(b',"', b', "').replace(b'":', b'": ')


def _optional(values: npt.NDArray[np.float64]) -> list[float | None]:
    absent = np.isnan(values)
    if not absent.any():
        return values.tolist()  # type: ignore[no-any-return]
    return [None if gone else v for v, gone in zip(values.tolist(), absent.tolist(), strict=True)]


def _iso_times(time_us: npt.NDArray[np.int64]) -> list[str | None]:
    """As :func:`iso_time`, for a column (None where that must write the row)."""
    stamps = time_us.astype("datetime64[us]")
    texts = np.char.add(np.datetime_as_string(stamps, unit="ms"), "Z").astype(object)
    fine = time_us % 1000 != 0
    if fine.any():
        texts[fine] = np.char.add(np.datetime_as_string(stamps[fine], unit="us"), "Z")
    texts[time_us < _YEAR_1000_US] = None
    return texts.tolist()  # type: ignore[no-any-return]


def _system_dicts(rows: npt.NDArray[np.int16]) -> list[dict[str, int]]:
    """Per row, constellation name → count for the non-zero counts, as :func:`fix_json`."""
    if not rows.any():
        return [{}] * len(rows)
    keys = (np.minimum(rows.astype(np.int64), 255) << (8 * np.arange(rows.shape[1]))).sum(axis=1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    names = [s.value for s in SYSTEMS]
    made = [
        {name: n for name, n in zip(names, rows[k].tolist(), strict=True) if n}
        for k in first.tolist()
    ]
    return [made[i] for i in inverse.reshape(-1).tolist()]


def _python_rows(table: FixTable, floats: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.intp]:
    tiny = np.zeros(len(table), dtype=np.bool_)
    for column in floats:
        magnitude = np.abs(column)
        tiny |= (magnitude < _TINY) & (magnitude > 0)
    tiny |= table.time_us < _YEAR_1000_US
    return np.flatnonzero(tiny)
