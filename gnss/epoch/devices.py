"""The fast path's device state as columns: one row per device, kept across batches.

A device is a small integer code (in order of first appearance). What the reference path keeps
in a :class:`~gnss.epoch.rules.DeviceState` — the learned cycle ender, the last epoch's time of day,
the date and 3D memory — is a column here, so a batch reads and writes the state of thousands
of devices with a few array operations; only an open epoch (rare: devices send whole epochs)
is kept per device, as the raw lines it came from. When a device needs the reference path its
state becomes a ``DeviceState`` (:meth:`DeviceColumns.state`) and goes back into the columns
afterwards (:meth:`DeviceColumns.put_state`).

Counts are columns too (:data:`COUNT_COLUMNS`): lines, accepted, fixes, untimed and undated
epochs, then one column per rejection reason.

>>> devices = DeviceColumns()
>>> devices.codes(["a", "b", "a"]).tolist(), devices.ids
([0, 1, 0], ['a', 'b'])
>>> counts = np.zeros((1, len(COUNT_COLUMNS)), np.int64)
>>> counts[0, [LINES, ACCEPTED]] = 3
>>> counts_of(counts[0])
Counts(lines=3, accepted=3, rejected=Counter(), fixes=0, untimed_epochs=0, undated_epochs=0)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import date

import numpy as np
import numpy.typing as npt

from gnss.epoch.assemble import Memory
from gnss.epoch.batch_assemble import NO_DAY, MemoryColumns
from gnss.epoch.decoder import Counts
from gnss.epoch.rules import DeviceState
from gnss.nmea.sentences import Reason

__all__ = ["COUNT_COLUMNS", "DeviceColumns", "add_counts", "counts_of"]

Ints = npt.NDArray[np.int64]

LINES, ACCEPTED, FIXES, UNTIMED, UNDATED, REJECTED = range(6)
REASONS = tuple(Reason)  # rejected[k] is column REJECTED + k
COUNT_COLUMNS = ("lines", "accepted", "fixes", "untimed", "undated", *(r.value for r in REASONS))
_REASON_COLUMN = {r.value: REJECTED + k for k, r in enumerate(REASONS)}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def counts_of(row: Ints) -> Counts:
    """One row of counts as :class:`~gnss.epoch.decoder.Counts`."""
    values = row.tolist()
    rejected = Counter({r.value: n for r, n in zip(REASONS, values[REJECTED:], strict=True) if n})
    return Counts(
        lines=values[LINES],
        accepted=values[ACCEPTED],
        rejected=rejected,
        fixes=values[FIXES],
        untimed_epochs=values[UNTIMED],
        undated_epochs=values[UNDATED],
    )


def add_counts(row: Ints, counts: Counts) -> None:
    """Adds ``counts`` into one row of counts."""
    row[LINES] += counts.lines
    row[ACCEPTED] += counts.accepted
    row[FIXES] += counts.fixes
    row[UNTIMED] += counts.untimed_epochs
    row[UNDATED] += counts.undated_epochs
    for reason, n in counts.rejected.items():
        row[_REASON_COLUMN[reason]] += n


class DeviceColumns:
    """Every device the decoder has seen: codes, state columns, running counts, open epochs."""

    def __init__(self) -> None:
        self.ids: list[str] = []  # code → device id
        self._code: dict[str, int] = {}
        self.ender = np.zeros(0, np.int64)  # −1: not learned
        self.last_tod = np.zeros(0, np.int64)  # −1: none yet
        self.memory = MemoryColumns(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))
        self.totals = np.zeros((0, len(COUNT_COLUMNS)), np.int64)
        # code → (the open epoch's lines joined with newlines, none counted again; the arrival
        # time of the last of them, NaN when unknown)
        self.pending: dict[int, tuple[bytes, float]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def code(self, device_id: str) -> int | None:
        return self._code.get(device_id)

    def codes(self, device_ids: Sequence[str]) -> Ints:
        """The codes of these devices, registering the new ones."""
        get = self._code.get
        found = [get(d, -1) for d in device_ids]
        if -1 in found:
            for k, device_id in enumerate(device_ids):
                if found[k] < 0:
                    found[k] = self._code.get(device_id, -1)
                    if found[k] < 0:
                        found[k] = self._register(device_id)
        return np.array(found, dtype=np.int64)

    def _register(self, device_id: str) -> int:
        code = len(self.ids)
        self.ids.append(device_id)
        self._code[device_id] = code
        if code >= len(self.ender):
            grow = max(64, len(self.ender))
            self.ender = np.append(self.ender, np.full(grow, -1, np.int64))
            self.last_tod = np.append(self.last_tod, np.full(grow, -1, np.int64))
            m = self.memory
            m.day = np.append(m.day, np.full(grow, NO_DAY, np.int64))
            m.tod_us = np.append(m.tod_us, np.zeros(grow, np.int64))
            m.three_d = np.append(m.three_d, np.zeros(grow, bool))
            more = np.zeros((grow, self.totals.shape[1]), np.int64)
            self.totals = np.concatenate([self.totals, more])
        return code

    def state(self, code: int, *, with_pending: bool = False) -> DeviceState:
        """The device's state as the reference path keeps it (its open epoch too, if asked)."""
        day = int(self.memory.day[code])
        ender, last_tod = int(self.ender[code]), int(self.last_tod[code])
        state = DeviceState(
            ender=None if ender < 0 else ender,
            last_tod=None if last_tod < 0 else last_tod,
            memory=Memory(
                day=None if day == NO_DAY else date.fromordinal(_EPOCH_ORDINAL + day),
                tod_us=int(self.memory.tod_us[code]),
                three_d=bool(self.memory.three_d[code]),
            ),
        )
        if with_pending and code in self.pending:
            raw, received = self.pending[code]
            state.pending_raw = raw
            state.pending_raw_received_at = None if math.isnan(received) else received
        return state

    def put_state(self, code: int, state: DeviceState) -> None:
        """Takes the device's state back from the reference path (its open epoch as raw lines)."""
        self.ender[code] = -1 if state.ender is None else state.ender
        self.last_tod[code] = -1 if state.last_tod is None else state.last_tod
        memory = state.memory
        day = NO_DAY if memory.day is None else memory.day.toordinal() - _EPOCH_ORDINAL
        self.memory.day[code] = day
        self.memory.tod_us[code] = memory.tod_us
        self.memory.three_d[code] = memory.three_d
        self.pending.pop(code, None)
        if state.pending:
            raw = b"\n".join(item.raw for item in state.pending)
            received = state.pending[-1].received_at
            self.pending[code] = (raw, math.nan if received is None else received)
        elif state.pending_raw:
            received = state.pending_raw_received_at
            self.pending[code] = (state.pending_raw, math.nan if received is None else received)

    def open_lines(self, code: int) -> list[bytes]:
        found = self.pending.get(code)
        return found[0].split(b"\n") if found else []


class TotalsView(Mapping[str, Counts]):
    """The running counts of every device, by device id (made on access)."""

    def __init__(self, devices: DeviceColumns) -> None:
        self._devices = devices

    def __getitem__(self, device_id: str) -> Counts:
        code = self._devices.code(device_id)
        if code is None:
            raise KeyError(device_id)
        return counts_of(self._devices.totals[code])

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._devices.ids))

    def __len__(self) -> int:
        return len(self._devices)


class StatesView(Mapping[str, DeviceState]):
    """Every device's state as the reference path keeps it: snapshots, made on access."""

    def __init__(self, devices: DeviceColumns) -> None:
        self._devices = devices

    def __getitem__(self, device_id: str) -> DeviceState:
        code = self._devices.code(device_id)
        if code is None:
            raise KeyError(device_id)
        return self._devices.state(code, with_pending=True)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._devices.ids))

    def __len__(self) -> int:
        return len(self._devices)
