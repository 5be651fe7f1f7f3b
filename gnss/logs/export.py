"""A ``Fix`` as the JSON object of ``partymap gnss fixes --jsonl`` (DESIGN §7).

Keys, in this order: ``time`` (ISO 8601 UTC, milliseconds, ``Z``), ``lat``, ``lon`` (degrees),
``alt_m`` (metres above mean sea level), ``mode`` (1 no fix, 2 2D, 3 3D, as gpsd), ``quality``
(GGA fix quality 0–8: 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float…), ``hdop``, ``pdop``, ``vdop``,
``sats_used``, ``sats_used_by_system`` and ``sats_in_view_by_system`` (constellation name →
count, e.g. ``{"BEIDOU": 14, "GPS": 8}``), ``speed_mps``, ``course_deg`` (true), ``accuracy_m``
(estimated horizontal one-sigma error). Unknown values are ``null``.

:func:`fix_jsonl` writes one ``Fix``; :func:`table_jsonl` writes a whole
:class:`~gnss.fixtable.FixTable` from its columns, byte for byte the same lines, for
``partymap gnss fixes --jsonl`` on the batch path (no ``Fix`` objects on the way): each column's
values are written in one call (orjson for numbers, numpy for times, a text per distinct
satellite count for the constellations) and :func:`gnss.logs.splice.splice` puts the lines
together.

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
from gnss.logs.splice import splice
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
# (5e-05) and orjson does not (0.00005), and for infinities (orjson writes null): such rows,
# and years before 1000 (which numpy pads and strftime does not), are written by fix_jsonl.
_TINY = 1e-4
_YEAR_1000_US = int(
    (datetime(1000, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC))
    / timedelta(microseconds=1)
)
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_NULL = b"null"
# The text between the values of a line: the keys, and the time's quotes and Z.
_PIECES = [b'{"time": "', b'Z", "lat": '] + [f', "{k}": '.encode() for k in FIELDS[2:]] + [b"}\n"]


class _Values:
    """The values of a table's columns, written into one buffer a column at a time."""

    def __init__(self, rows: int) -> None:
        self.blobs: list[bytes] = [_NULL]
        self.size = len(_NULL)
        self.start = np.empty((rows, len(FIELDS)), dtype=np.int64)
        self.stop = np.empty((rows, len(FIELDS)), dtype=np.int64)

    def add(self, blob: bytes) -> int:
        """Appends ``blob``; returns where it starts."""
        at = self.size
        self.blobs.append(blob)
        self.size += len(blob)
        return at

    def json_array(self, column: int, values: npt.NDArray[Any]) -> None:
        """A number per row, as orjson writes it (NaN: null)."""
        text = orjson.dumps(np.ascontiguousarray(values), option=_NUMPY)
        at = self.add(text)
        commas = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord(","))
        self.start[:, column] = at + np.concatenate(([1], commas + 1))
        self.stop[:, column] = at + np.concatenate((commas, [len(text) - 1]))

    def fixed(self, column: int, rows: npt.NDArray[np.intp], texts: npt.NDArray[np.bytes_]) -> None:
        """One fixed-width text per row of ``rows``."""
        width = texts.dtype.itemsize
        at = self.add(texts.tobytes())
        self.start[rows, column] = at + width * np.arange(len(rows))
        self.stop[rows, column] = self.start[rows, column] + width

    def choices(self, column: int, texts: list[bytes], which: npt.NDArray[np.intp]) -> None:
        """Per row, one of a few texts (``which`` indexes ``texts``)."""
        offsets = [self.add(t) for t in texts]
        starts = np.array(offsets, dtype=np.int64)
        self.start[:, column] = starts[which]
        self.stop[:, column] = (starts + np.array([len(t) for t in texts], np.int64))[which]

    def buffer(self) -> npt.NDArray[np.uint8]:
        return np.frombuffer(b"".join(self.blobs), dtype=np.uint8)


def table_jsonl(table: FixTable) -> bytes:
    """Every row of ``table`` as a line of ``--jsonl`` output (each line ends in a newline)."""
    n = len(table)
    if not n:
        return b""
    values = _Values(n)
    _times(values, table.time_us)
    floats = {
        "lat": table.lat,
        "lon": table.lon,
        "alt_m": table.alt_m,
        "hdop": table.hdop,
        "pdop": table.pdop,
        "vdop": table.vdop,
        "speed_mps": table.speed_mps,
        "course_deg": table.course_deg,
        "accuracy_m": table.accuracy_m,
    }
    for name, column in floats.items():
        values.json_array(FIELDS.index(name), column)
    values.json_array(FIELDS.index("mode"), table.mode)
    values.json_array(FIELDS.index("quality"), table.quality)
    sats = FIELDS.index("sats_used")
    values.json_array(sats, table.sats_used)
    unknown = table.sats_used < 0
    values.start[unknown, sats], values.stop[unknown, sats] = 0, len(_NULL)
    _systems_column(values, FIELDS.index("sats_used_by_system"), table.used)
    _systems_column(values, FIELDS.index("sats_in_view_by_system"), table.in_view)

    whole_start = np.full(n, -1, dtype=np.int64)
    whole_stop = np.full(n, -1, dtype=np.int64)
    odd = _odd_rows(table, list(floats.values()))
    if len(odd):
        for row, fix in zip(odd.tolist(), table.take(odd).fixes(), strict=True):
            whole_start[row] = values.add((fix_jsonl(fix) + "\n").encode())
            whole_stop[row] = values.size
    pieces = np.frombuffer(b"".join(_PIECES), dtype=np.uint8)
    bounds = np.cumsum([0] + [len(p) for p in _PIECES], dtype=np.int64)
    spliced = splice(
        values.buffer(),
        values.start,
        values.stop,
        pieces=pieces,
        bounds=bounds,
        whole_start=whole_start,
        whole_stop=whole_stop,
    )
    return spliced.tobytes()


def _times(values: _Values, time_us: npt.NDArray[np.int64]) -> None:
    """As :func:`iso_time` without its ``Z`` (the template has it), for a column."""
    stamps = time_us.astype("datetime64[us]")
    fine = time_us % 1000 != 0
    for rows, texts in (
        (np.flatnonzero(~fine), np.datetime_as_string(stamps[~fine], unit="ms")),
        (np.flatnonzero(fine), np.datetime_as_string(stamps[fine], unit="us")),
    ):
        if len(rows):
            width = int(np.char.str_len(texts).max())  # numpy's dtype is wider than its texts
            values.fixed(FIELDS.index("time"), rows, texts.astype(f"S{width}"))


def _systems_column(values: _Values, column: int, rows: npt.NDArray[np.int16]) -> None:
    """Per row, constellation name → count for the non-zero counts, as :func:`fix_json`."""
    if not rows.any():
        values.choices(column, [b"{}"], np.zeros(len(rows), dtype=np.intp))
        return
    counts = np.ascontiguousarray(rows)
    keys = counts.view(np.dtype((np.void, counts.dtype.itemsize * counts.shape[1]))).ravel()
    _, first, which = np.unique(keys, return_index=True, return_inverse=True)
    names = [s.value for s in SYSTEMS]
    texts = [
        json.dumps(
            {name: n for name, n in zip(names, counts[k].tolist(), strict=True) if n},
            separators=(", ", ": "),
        ).encode()
        for k in first.tolist()
    ]
    values.choices(column, texts, which.reshape(-1))


def _odd_rows(table: FixTable, floats: list[npt.NDArray[np.float64]]) -> npt.NDArray[np.intp]:
    odd = table.time_us < _YEAR_1000_US
    for column in floats:
        magnitude = np.abs(column)
        odd |= ((magnitude < _TINY) & (magnitude > 0)) | np.isinf(magnitude)
    return np.flatnonzero(odd)
