"""The columns of the fast path: one value per line of a batch.

:class:`Lines` holds what :func:`gnss.nmea.scan.decode_lines` read from each line (NaN, -1 or 0
where a value is absent) and the satellites seen in GSA and GSV, which the later stages
(:mod:`gnss.epoch.batch_rules`, :mod:`gnss.epoch.batch_assemble`) gather into epochs and fixes.

>>> import numpy as np
>>> lines = Lines.blank(b"\\n", np.array([0]), np.array([0]), np.array([3]), np.array([0]))
>>> float(lines.lat[0]), int(lines.tod[0]), lines.used_code.tolist()
(nan, -1, [])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["HEX", "Lines"]

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
