"""Lines of text spliced from values written beforehand, in one compiled pass: how
:func:`gnss.logs.export.table_jsonl` puts a table's JSON lines together.

Every value of every column is written once, a column at a time, into one byte buffer
(``values``); ``start`` and ``stop`` (rows × columns) say where each row's value of each column
lies. A line is the template's pieces with the row's values between them: piece 0, value 0,
piece 1, …, value k−1, piece k (``bounds`` holds the k + 2 offsets of the pieces in
``pieces``). A row whose ``whole_start`` is ≥ 0 is copied whole from ``values`` instead (a
line written some other way). Writing the values a column at a time lets one call format a
whole column; only the copying is per row, and that is what this loop does.

>>> values = np.frombuffer(b"7null", np.uint8)
>>> pieces = np.frombuffer(b'{"n": }\\n', np.uint8)
>>> absent = np.array([-1, -1])
>>> splice(values, np.array([[0], [1]]), np.array([[1], [5]]), pieces=pieces,
...        bounds=np.array([0, 6, 8]), whole_start=absent, whole_stop=absent).tobytes()
b'{"n": 7}\\n{"n": null}\\n'
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gnss.jit import compiled

__all__ = ["splice"]

Bytes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]


def splice(
    values: Bytes,
    start: Ints,
    stop: Ints,
    *,
    pieces: Bytes,
    bounds: Ints,
    whole_start: Ints,
    whole_stop: Ints,
) -> Bytes:
    """Every row's line, one after the other (see the module's docstring)."""
    whole = whole_start >= 0
    templated = ~whole
    size = int((stop - start)[templated].sum()) + int(templated.sum()) * len(pieces)
    size += int((whole_stop - whole_start)[whole].sum())
    out = np.empty(size, dtype=np.uint8)
    _splice(values, start, stop, pieces, bounds, whole_start, whole_stop, out)
    return out


@compiled
def _splice(  # noqa: PLR0917 - numba's compiled functions take no keyword-only arguments
    values: Bytes,
    start: Ints,
    stop: Ints,
    pieces: Bytes,
    bounds: Ints,
    whole_start: Ints,
    whole_stop: Ints,
    out: Bytes,
) -> None:
    # Byte loops rather than slice copies: the pieces are a few bytes long, and a slice costs
    # more to set up than to copy.
    at = 0
    columns = start.shape[1]
    for row in range(start.shape[0]):
        if whole_start[row] >= 0:
            for k in range(whole_start[row], whole_stop[row]):
                out[at] = values[k]
                at += 1
            continue
        for column in range(columns + 1):
            for k in range(bounds[column], bounds[column + 1]):
                out[at] = pieces[k]
                at += 1
            if column < columns:
                for k in range(start[row, column], stop[row, column]):
                    out[at] = values[k]
                    at += 1
