"""Fixes as columns: what the fast path hands the pipeline, one row per :class:`~gnss.model.Fix`.

A :class:`FixTable` holds every field of a ``Fix`` in arrays (NaN, −1 or 0 where a value is
absent), so the stages after decoding never build or read ``Fix`` objects; :meth:`FixTable.fixes`
makes the objects when someone wants them (tests, the CLI), equal to the reference path's.
Times are integer microseconds, as ``datetime`` keeps them, so nothing is rounded on the way.
It is the one form a batch of fixes takes from the decoder to the store: the quality rules,
membership, presence and the store's write all read it, with whatever the caller knows per row
(whose fix it is) in arrays of their own beside it.

The raw position sentence is kept as a span of a byte buffer and a 64-bit :func:`raw_hash` of
its bytes (what the anti-replay rule compares across devices); the hash of one text and the
hashes of many spans (:func:`span_hashes`) are the same function.

>>> from datetime import datetime, UTC
>>> from gnss.model import Fix, FixMode, FixQuality
>>> fix = Fix(time=datetime(2026, 5, 1, 8, 0, tzinfo=UTC), lat=30.5, lon=114.3,
...           mode=FixMode.THREE_D, quality=FixQuality.GPS, raw_position="$GNGGA,080000*00")
>>> table = FixTable.from_fixes([fix], np.array([7]))
>>> table.time_us.tolist(), table.device.tolist(), table.fixes() == [fix]
([1777622400000000], [7], True)
>>> int(table.raw_hash[0]) == raw_hash("$GNGGA,080000*00") != 0
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from gnss.epoch.assemble import NO_COUNTS, counts_by_system, new_fix
from gnss.jit import compiled
from gnss.model import Constellation, Fix, FixMode, FixQuality

__all__ = ["SYSTEMS", "FixTable", "raw_hash", "span_hashes"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

SYSTEMS = tuple(Constellation)  # the columns of ``used`` and ``in_view``
_N_SYSTEMS = len(SYSTEMS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MODES = {int(m): m for m in FixMode}
_QUALITIES = {int(q): q for q in FixQuality}


@dataclass(slots=True, eq=False)
class FixTable:
    """Fixes as columns, in order (each device's fixes in the order they were made)."""

    device: Ints  # a code per device, the caller's (the decoder's; the store's id once known)
    time_us: Ints  # UTC microseconds since 1970
    received_s: Floats  # Fix.received_at as UTC seconds (to the microsecond); NaN: unknown
    lat: Floats  # NaN: no position
    lon: Floats
    alt_m: Floats
    mode: npt.NDArray[np.int8]
    quality: npt.NDArray[np.int8]
    hdop: Floats
    pdop: Floats
    vdop: Floats
    sats_used: npt.NDArray[np.int16]  # −1: unknown
    used: npt.NDArray[np.int16]  # (n, len(SYSTEMS)) satellites used per constellation
    in_view: npt.NDArray[np.int16]  # (n, len(SYSTEMS)) satellites in view per constellation
    speed_mps: Floats
    course_deg: Floats
    sigma: Floats  # (n, 3) GST sigmas: lat, lon, alt
    accuracy_m: Floats
    raw_hash: Ints  # raw_hash of the raw position sentence; 0: none
    raw_start: Ints  # its span in ``text`` (−1: none)
    raw_end: Ints
    text: bytes

    def __len__(self) -> int:
        return len(self.time_us)

    @property
    def has_position(self) -> npt.NDArray[np.bool_]:
        """As :attr:`Fix.has_position`."""
        return np.asarray((self.mode >= FixMode.TWO_D) & ~np.isnan(self.lat) & ~np.isnan(self.lon))

    @classmethod
    def empty(cls) -> FixTable:
        return cls.from_fixes([], np.zeros(0, np.int64))

    @classmethod
    def blank(cls, n: int) -> FixTable:
        """``n`` rows of device 0 at time 0 with every value absent (no fix): the start of a
        table made column by column, as examples and benchmarks make theirs.

        >>> from dataclasses import replace
        >>> table = replace(FixTable.blank(2), lat=np.array([30.5, np.nan]))
        >>> table.has_position.tolist(), table.sats_used.tolist(), table.raw_start.tolist()
        ([False, False], [-1, -1], [-1, -1])
        """

        def absent(*shape: int) -> Floats:
            return np.full((n, *shape), np.nan)

        def counts(*shape: int, fill: int = 0) -> npt.NDArray[np.int16]:
            return np.full((n, *shape), fill, np.int16)

        return cls(
            device=np.zeros(n, np.int64),
            time_us=np.zeros(n, np.int64),
            received_s=absent(),
            lat=absent(),
            lon=absent(),
            alt_m=absent(),
            mode=np.full(n, int(FixMode.NO_FIX), np.int8),
            quality=np.full(n, int(FixQuality.INVALID), np.int8),
            hdop=absent(),
            pdop=absent(),
            vdop=absent(),
            sats_used=counts(fill=-1),
            used=counts(_N_SYSTEMS),
            in_view=counts(_N_SYSTEMS),
            speed_mps=absent(),
            course_deg=absent(),
            sigma=absent(3),
            accuracy_m=absent(),
            raw_hash=np.zeros(n, np.int64),
            raw_start=np.full(n, -1, np.int64),
            raw_end=np.full(n, -1, np.int64),
            text=b"",
        )

    @classmethod
    def from_fixes(cls, fixes: Sequence[Fix], device: Ints) -> FixTable:
        """The table of ``Fix`` objects (``device``: a code per fix)."""
        n = len(fixes)

        def floats(values: list[float | None]) -> Floats:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        def counts(mappings: list[Mapping[Constellation, int]]) -> npt.NDArray[np.int16]:
            rows = [[m.get(s, 0) for s in SYSTEMS] for m in mappings]
            return np.array(rows, dtype=np.int16).reshape(n, _N_SYSTEMS)

        raws = [(f.raw_position or "").encode() for f in fixes]
        text = b"".join(raws)
        lengths = np.array([len(r) for r in raws], dtype=np.int64)
        start = np.cumsum(lengths) - lengths
        present = lengths > 0
        received = [f.received_at for f in fixes]
        return cls(
            device=np.asarray(device, dtype=np.int64).reshape(n),
            time_us=np.array([_micros(f.time) for f in fixes], dtype=np.int64),
            received_s=floats([None if r is None else r.timestamp() for r in received]),
            lat=floats([f.lat for f in fixes]),
            lon=floats([f.lon for f in fixes]),
            alt_m=floats([f.alt_m for f in fixes]),
            mode=np.array([int(f.mode) for f in fixes], dtype=np.int8),
            quality=np.array([int(f.quality) for f in fixes], dtype=np.int8),
            hdop=floats([f.hdop for f in fixes]),
            pdop=floats([f.pdop for f in fixes]),
            vdop=floats([f.vdop for f in fixes]),
            sats_used=np.array(
                [-1 if f.sats_used is None else f.sats_used for f in fixes], dtype=np.int16
            ),
            used=counts([f.sats_used_by_system for f in fixes]),
            in_view=counts([f.sats_in_view_by_system for f in fixes]),
            speed_mps=floats([f.speed_mps for f in fixes]),
            course_deg=floats([f.course_deg for f in fixes]),
            sigma=np.column_stack(
                [
                    floats([f.sigma_lat_m for f in fixes]),
                    floats([f.sigma_lon_m for f in fixes]),
                    floats([f.sigma_alt_m for f in fixes]),
                ]
            ).reshape(n, 3),
            accuracy_m=floats([f.accuracy_m for f in fixes]),
            raw_hash=_hashes(text, start, lengths),
            raw_start=np.where(present, start, -1),
            raw_end=np.where(present, start + lengths, -1),
            text=text,
        )

    def fixes(self) -> list[Fix]:
        """The rows as ``Fix`` objects, each equal to the one the reference path makes."""
        n = len(self)
        if not n:
            return []

        def optional(values: Floats) -> list[float | None]:
            absent = np.isnan(values).tolist()
            return [None if gone else v for v, gone in zip(values.tolist(), absent, strict=True)]

        times = [_EPOCH + timedelta(microseconds=us) for us in self.time_us.tolist()]
        received = [
            None if r is None else datetime.fromtimestamp(r, UTC) for r in optional(self.received_s)
        ]
        text = self.text
        raws = [
            None if a < 0 else text[a:b].decode()
            for a, b in zip(self.raw_start.tolist(), self.raw_end.tolist(), strict=True)
        ]
        columns: tuple[list[Any], ...] = (
            times,
            optional(self.lat),
            optional(self.lon),
            optional(self.alt_m),
            [_MODES[m] for m in self.mode.tolist()],
            [_QUALITIES[q] for q in self.quality.tolist()],
            optional(self.hdop),
            optional(self.pdop),
            optional(self.vdop),
            [None if s < 0 else s for s in self.sats_used.tolist()],
            _mappings(self.used),
            _mappings(self.in_view),
            optional(self.speed_mps),
            optional(self.course_deg),
            optional(self.sigma[:, 0]),
            optional(self.sigma[:, 1]),
            optional(self.sigma[:, 2]),
            optional(self.accuracy_m),
            raws,
            received,
        )  # in the order of Fix's fields
        return [new_fix(*values) for values in zip(*columns, strict=True)]

    def take(self, rows: Ints) -> FixTable:
        """Some rows, in the order given (the text buffer is shared)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "text"}
        return FixTable(**{k: v[rows] for k, v in values.items()}, text=self.text)

    @staticmethod
    def concat(parts: Sequence[FixTable]) -> FixTable:
        """The tables one after the other."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return FixTable.empty()
        shift = np.cumsum([0] + [len(p.text) for p in parts[:-1]])
        values: dict[str, Any] = {}
        for f in fields(FixTable):
            if f.name == "text":
                continue
            columns = [getattr(p, f.name) for p in parts]
            if f.name in ("raw_start", "raw_end"):
                columns = [np.where(c >= 0, c + s, -1) for c, s in zip(columns, shift, strict=True)]
            values[f.name] = np.concatenate(columns)
        return FixTable(**values, text=b"".join(p.text for p in parts))


def _hashes(text: bytes, start: Ints, lengths: Ints) -> Ints:
    hashes = np.zeros(len(start), dtype=np.int64)
    present = np.flatnonzero(lengths > 0)
    hashes[present] = span_hashes(text, start[present], start[present] + lengths[present])
    return hashes


def _micros(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _mappings(rows: npt.NDArray[np.int16]) -> list[Mapping[Constellation, int]]:
    """Per row, the read-only per-system counts, one mapping per distinct row of counts."""
    if not rows.any():
        return [NO_COUNTS] * len(rows)
    # One integer per row (counts are below 256: a constellation has at most 63 satellites).
    keys = (np.minimum(rows.astype(np.int64), 255) << (8 * np.arange(rows.shape[1]))).sum(axis=1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    made = [counts_by_system(tuple(rows[k].tolist())) for k in first.tolist()]
    return [made[i] for i in inverse.tolist()]


# -- the raw sentence's hash ------------------------------------------------------------------

_P = np.uint64(0x100000001B3)  # FNV's 64-bit prime as the polynomial's base
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def span_hashes(buf: bytes | npt.NDArray[np.uint8], start: Ints, end: Ints) -> Ints:
    """A 64-bit hash of each non-empty span ``buf[start:end]`` (never 0): the polynomial of its
    bytes modulo 2**64, then mixed (splitmix64's finaliser) so that similar texts spread."""
    a = np.frombuffer(buf, dtype=np.uint8) if isinstance(buf, bytes) else buf
    start, end = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
    if len(start) and (end - start).min() <= 0:
        raise ValueError("span_hashes takes non-empty spans only")
    out = np.empty(len(start), dtype=np.uint64)
    _span_hashes(a, start, end, out)
    return out.view(np.int64)


@compiled
def _span_hashes(
    a: npt.NDArray[np.uint8], start: Ints, end: Ints, out: npt.NDArray[np.uint64]
) -> None:
    for i in range(len(start)):
        h = np.uint64(0)
        for j in range(start[i], end[i]):
            h = h * _P + np.uint64(a[j])  # wraps modulo 2**64, as intended
        z = h ^ np.uint64(end[i] - start[i])
        z = (z ^ (z >> np.uint64(30))) * _MIX_1
        z = (z ^ (z >> np.uint64(27))) * _MIX_2
        z ^= z >> np.uint64(31)
        out[i] = z if z != 0 else np.uint64(1)


def raw_hash(text: str | None) -> int:
    """:func:`span_hashes` of one sentence's text; 0 for none."""
    if not text:
        return 0
    data = text.encode()
    return int(span_hashes(data, np.zeros(1, np.int64), np.array([len(data)]))[0])
