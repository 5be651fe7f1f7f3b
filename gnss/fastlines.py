"""The columns of the fast path: per-line values, and field offsets within framed lines.

:class:`Lines` holds one value per line of a batch (NaN, -1 or 0 where absent) and the
satellites seen in GSA and GSV; :class:`Spans` finds the fields of framed lines and reads them
with :mod:`gnss.columns`.

>>> import numpy as np
>>> buf = b"$GPZDA,120000,01,05,2026,,*49\\n"
>>> a = np.frombuffer(buf, np.uint8)
>>> delims = np.append(np.flatnonzero((a == 44) | (a == 42)), len(a))
>>> spans = Spans(a, delims, np.array([0]), np.array([6]), np.array([26]))
>>> values, bad = spans.integers([1, 2, 3])  # small integers: a year is left to the reference
>>> values[0, :2].tolist(), bad[0].tolist()
([1, 5], [False, False, True])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gnss import columns as col

__all__ = ["HEX", "Lines", "Spans"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

HEX = np.full(256, -1, dtype=np.int64)  # byte → hexadecimal digit value, -1 if none
for _i, _c in enumerate(b"0123456789ABCDEF"):
    HEX[_c] = HEX[bytes([_c]).lower()[0]] = _i


@dataclass(slots=True)
class Lines:
    """Per-line columns (NaN / -1 / 0 where a value is absent) plus satellite lists."""

    buf: bytes
    start: Ints
    end: Ints
    status: Ints
    reason: Ints
    kind: Ints
    base: Ints
    tod: Ints
    date: Ints
    lat: Floats
    lon: Floats
    alt: Floats
    valid: Mask
    quality: Ints  # quality the position would carry; GGA quality (-1 empty) for GGA
    sats: Ints
    hdop: Floats
    pdop: Floats
    vdop: Floats
    fix_type: Ints
    speed: Floats
    course: Floats
    motion_ok: Mask  # RMC valid, or VTG mode not N: speed and course may be used
    sigma: Floats  # n×3 GST sigmas
    used_line: Ints
    used_code: Ints
    view_line: Ints
    view_code: Ints

    @classmethod
    def blank(cls, buf: bytes, start: Ints, end: Ints, status: Ints, reason: Ints) -> Lines:
        """Columns for the lines of ``buf`` with every value still absent."""
        n = len(start)
        nan = np.full(n, np.nan)
        minus = np.full(n, -1, dtype=np.int64)
        none = np.zeros(0, dtype=np.int64)
        return cls(
            buf,
            start,
            end,
            status,
            reason,
            np.zeros(n, np.int64),
            np.zeros(n, np.int64),
            minus.copy(),
            np.zeros(n, np.int64),
            nan.copy(),
            nan.copy(),
            nan.copy(),
            np.zeros(n, bool),
            minus.copy(),
            minus.copy(),
            nan.copy(),
            nan.copy(),
            nan.copy(),
            np.zeros(n, np.int64),
            nan.copy(),
            nan.copy(),
            np.zeros(n, bool),
            np.full((n, 3), np.nan),
            none,
            none,
            none,
            none,
        )


class Spans:
    """Field offsets of a set of framed lines. ``delims`` are the positions of every ``,`` and
    ``*`` in the buffer (and one past its end); data field j of a line runs between its
    delimiters ``first + j`` and ``first + j + 1``, and fields past ``fields`` are empty."""

    __slots__ = ("a", "delims", "fields", "first", "star")

    def __init__(
        self, a: npt.NDArray[np.uint8], delims: Ints, first: Ints, fields: Ints, star: Ints
    ) -> None:
        self.a, self.delims, self.first, self.fields, self.star = a, delims, first, fields, star

    def subset(self, rows: Ints) -> Spans:
        return Spans(self.a, self.delims, self.first[rows], self.fields[rows], self.star[rows])

    def bounds(self, j: int | Ints) -> tuple[Ints, Ints]:
        present = j < self.fields
        at = np.where(present, self.first + j, 0)
        start = np.where(present, self.delims[at] + 1, self.star)
        return start, np.where(present, self.delims[at + 1], self.star)

    def char(self, j: int | Ints) -> tuple[Ints, Ints]:
        """First character (0 if empty) and length of field j."""
        start, end = self.bounds(j)
        return np.where(end > start, self.a[np.minimum(start, len(self.a) - 1)], 0), end - start

    def decimal(self, j: int) -> tuple[Floats, Mask]:
        return col.decimal(self.a, *self.bounds(j))

    def dop(self, j: int) -> tuple[Floats, Mask]:
        value, bad = self.decimal(j)
        return np.where(value >= 99.0, np.nan, value), bad

    def integer(self, j: int | Ints) -> tuple[Ints, Mask]:
        return col.integer(self.a, *self.bounds(j))

    def small(self, j: int | Ints) -> tuple[Ints, Mask]:
        return col.small_int(self.a, *self.bounds(j))

    def many(self, fields: list[int] | Ints) -> tuple[Ints, Ints]:
        """Start and end of several fields of every row: (rows × fields) matrices. ``fields``
        is a list of field numbers, or a matrix of them (one row per line)."""
        js = np.asarray(fields, dtype=np.int64)
        present = js < self.fields[:, None]
        at = np.where(present, self.first[:, None] + js, 0)
        star = self.star[:, None]
        start = np.where(present, self.delims[at] + 1, star)
        return start, np.where(present, self.delims[at + 1], star)

    def integers(self, fields: list[int] | Ints) -> tuple[Ints, Mask]:
        """Small integers of several fields at once: (rows × fields) values and bad flags."""
        start, end = self.many(fields)
        value, bad = col.small_int(self.a, start.ravel(), end.ravel())
        return value.reshape(start.shape), bad.reshape(start.shape)

    def dops(self, fields: list[int]) -> tuple[Floats, Mask]:
        """DOPs of several fields at once (rows × fields); 99.x placeholders are NaN."""
        start, end = self.many(fields)
        value, bad = col.decimal(self.a, start.ravel(), end.ravel())
        value = np.where(value >= 99.0, np.nan, value)
        return value.reshape(start.shape), bad.reshape(start.shape)

    def time(self, j: int) -> tuple[Ints, Mask]:
        return col.time_of_day(self.a, *self.bounds(j))

    def position(self, j: int) -> tuple[Floats, Floats, Mask]:
        """lat, lon from fields j..j+3; NaN unless value and hemisphere are both there."""
        out = []
        bad = np.zeros(len(self.first), dtype=bool)
        for offset, limit, negative, positive in ((0, 90, 83, 78), (2, 180, 87, 69)):
            start, end = self.bounds(j + offset)
            value, wrong = col.angle(self.a, start, end, limit)
            hemi, hemi_len = self.char(j + offset + 1)
            absent = (end == start) | (hemi_len == 0)
            wrong |= (hemi_len != 1) | ((hemi != negative) & (hemi != positive))
            minus = self.a[np.minimum(start, len(self.a) - 1)] == 45
            signed = np.where(minus | (hemi == negative), -value, value)
            out.append(np.where(absent, np.nan, signed))
            bad |= wrong & ~absent
        return out[0], out[1], bad
