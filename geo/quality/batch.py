"""The quality rules of :mod:`geo.quality.rules` over a batch of fixes, a
:class:`~gnss.fixtable.FixTable` whose ``device`` column says whose each fix is.

Value rules (no fix, satellites, HDOP, future, replayed) are elementwise. The rules that
compare a fix with its device's *last accepted* fix (stale, duplicate, impossible speed) form a
chain within a batch: they run in rounds, round r taking every device's r-th fix of the batch,
so each round is vectorised and sees the state the previous round left. The result is a bit
mask per fix (bit i is ``RULE_NAMES[i]``) and a new :class:`DeviceTable`; tests prove it equal
to :func:`geo.quality.rules.check_quality` fix by fix.

>>> table = DeviceTable.empty().with_devices(np.array([5]))
>>> import numpy as np
>>> reason_names(1 << RULE_NAMES.index("stale") | 1)
('no_fix', 'stale')
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from geo.arrays import rounds
from geo.coords import haversine_m_arrays
from geo.model import QualityThresholds
from geo.quality.rules import NO_FIX_QUALITIES, RULE_NAMES, UNTRUSTED_TIME
from gnss.fixtable import FixTable

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Mask = npt.NDArray[np.uint16]

BIT = {name: np.uint16(1 << i) for i, name in enumerate(RULE_NAMES)}
UNTRUSTED_TIME_BITS = np.uint16(sum(int(BIT[name]) for name in UNTRUSTED_TIME))
_NO_FIX_CODES = np.array(sorted(int(q) for q in NO_FIX_QUALITIES), dtype=np.int8)


def reason_names(mask: int) -> tuple[str, ...]:
    """The rule names set in one fix's mask, in rule order."""
    return tuple(name for i, name in enumerate(RULE_NAMES) if int(mask) >> i & 1)


@dataclass(frozen=True, slots=True, eq=False)
class DeviceTable:
    """Per-device quality state and thresholds as columns, rows sorted by device code."""

    code: IntArray
    time_s: FloatArray  # last accepted fix; −inf: none yet
    lat: FloatArray
    lon: FloatArray
    min_sats: npt.NDArray[np.int16]
    max_hdop: FloatArray
    max_speed_mps: FloatArray
    max_future_s: FloatArray

    @classmethod
    def empty(cls) -> DeviceTable:
        f = np.zeros(0, dtype=np.float64)
        return cls(np.zeros(0, np.int64), f, f, f, np.zeros(0, np.int16), f, f, f)

    def with_devices(
        self, codes: IntArray, thresholds: QualityThresholds | None = None
    ) -> DeviceTable:
        """This table plus the devices in ``codes`` it lacks, with ``thresholds``."""
        thresholds = thresholds or QualityThresholds()
        new = np.setdiff1d(np.asarray(codes, dtype=np.int64), self.code)
        if not len(new):
            return self
        n = len(new)
        code = np.concatenate([self.code, new])
        order = np.argsort(code, kind="stable")

        def grow(old: npt.NDArray[np.generic], fill: float) -> npt.NDArray[np.generic]:
            return np.concatenate([old, np.full(n, fill, dtype=old.dtype)])[order]

        return DeviceTable(
            code=code[order],
            time_s=grow(self.time_s, -np.inf).astype(np.float64),
            lat=grow(self.lat, np.nan).astype(np.float64),
            lon=grow(self.lon, np.nan).astype(np.float64),
            min_sats=grow(self.min_sats, thresholds.min_sats).astype(np.int16),
            max_hdop=grow(self.max_hdop, thresholds.max_hdop).astype(np.float64),
            max_speed_mps=grow(self.max_speed_mps, thresholds.max_speed_mps).astype(np.float64),
            max_future_s=grow(self.max_future_s, thresholds.max_future_s).astype(np.float64),
        )

    def rows(self, codes: IntArray) -> IntArray:
        rows = np.searchsorted(self.code, codes)
        if len(codes) and (rows.max() >= len(self.code) or np.any(self.code[rows] != codes)):
            raise KeyError("unknown device code; add it with DeviceTable.with_devices first")
        return rows.astype(np.int64)


def position_hashes(fixes: FixTable) -> IntArray:
    """What the replay guard compares, per fix: the hash of its raw position sentence, 0 for an
    epoch without a position (nothing it sends is a position to replay)."""
    return np.where(fixes.has_position, fixes.raw_hash, 0)


def check_quality_batch(
    fixes: FixTable, table: DeviceTable, now_s: float, replayed: npt.NDArray[np.bool_]
) -> tuple[Mask, DeviceTable]:
    """Reason masks for every fix of the batch (arrival order), and the devices' new state.

    ``fixes.device`` is the code of each fix's device in ``table``.
    """
    rows = table.rows(fixes.device)
    # The rules' time unit is the reference's: UTC seconds, each the float that
    # ``datetime.timestamp()`` gives (a correctly rounded µs / 10**6, as this is).
    time_s = fixes.time_us / 1e6
    has_position = fixes.has_position
    # Coordinates as the table has them, even where an epoch has no position: only accepted
    # fixes (each with a position) enter the devices' state, and only those with a position
    # are measured for speed.
    fix_lat, fix_lon = fixes.lat, fixes.lon
    received = np.where(np.isnan(fixes.received_s), now_s, fixes.received_s)
    mask = np.zeros(len(fixes), dtype=np.uint16)
    mask |= np.where(~has_position | np.isin(fixes.quality, _NO_FIX_CODES), BIT["no_fix"], 0)
    mask |= np.where(fixes.sats_used < table.min_sats[rows], BIT["too_few_sats"], 0)
    no_hdop = np.isnan(fixes.hdop)
    bad_hdop = np.where(no_hdop, np.isnan(fixes.accuracy_m), ~(fixes.hdop <= table.max_hdop[rows]))
    mask |= np.where(bad_hdop, BIT["hdop_too_high"], 0)
    mask |= np.where(time_s - received > table.max_future_s[rows], BIT["future"], 0)
    mask |= np.where(replayed, BIT["replayed"], 0)
    last_s, lat, lon = table.time_s.copy(), table.lat.copy(), table.lon.copy()
    for i in rounds(rows):  # at most one fix per device in each round
        r = rows[i]
        dt = time_s[i] - last_s[r]
        mask[i] |= np.where(dt < 0, BIT["stale"], 0)
        mask[i] |= np.where(dt == 0, BIT["duplicate"], 0)
        moving = (dt > 0) & np.isfinite(dt) & has_position[i]
        with np.errstate(invalid="ignore", divide="ignore"):
            speed = haversine_m_arrays(lat[r], lon[r], fix_lat[i], fix_lon[i]) / dt
        mask[i] |= np.where(moving & (speed > table.max_speed_mps[r]), BIT["impossible_speed"], 0)
        ok = mask[i] == 0
        last_s[r[ok]], lat[r[ok]], lon[r[ok]] = time_s[i][ok], fix_lat[i][ok], fix_lon[i][ok]
    return mask, replace(table, time_s=last_s, lat=lat, lon=lon)


def liveness(mask: Mask) -> npt.NDArray[np.bool_]:
    """Which epochs prove their device alive (:func:`geo.quality.rules.counts_as_liveness`)."""
    return np.asarray((mask & UNTRUSTED_TIME_BITS) == 0)
