"""Replay detection: a position sentence byte-identical to one another device sent first.

GGA/RMC/GNS/GLL sentences carry a time tag and a position to 1e-4 minutes, so two honest
receivers never send the same one; a replayed or relayed stream does. GSA/GSV/ZDA repeat
legitimately and are never registered (the caller passes the hash of the epoch's *position*
sentence only, 0 for none). A sentence is remembered for ``window_s`` seconds of receipt time
(two minutes by default: a relay forwards a stream as it comes; memory grows with the window).

What is remembered lives in open-addressing hash tables of numpy arrays, one per generation of
half a window of receipt, probed and filled by compiled loops (which let the daemon's
event loop run meanwhile). A generation is dropped whole once everything in it is older than
two windows, so a busy daemon never stops to sort or sweep what it remembers; a table that
fills up is rebuilt twice as large, which touches only its own generation.

The per-fix reference and the batch path both ask this guard (one element or many at a time);
the answer for a fix depends only on what arrived before it, so both agree — as long as
receipt times come in order give or take a window (they are arrival times): a generation is
forgotten once sentences received two windows after its newest have arrived.

>>> guard = ReplayGuard(window_s=600)
>>> guard.check(np.array([11, 12]), np.array([1, 1]), np.array([0.0, 0.0])).tolist()
[False, False]
>>> guard.check(np.array([11, 11]), np.array([2, 1]), np.array([5.0, 5.0])).tolist()
[True, False]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gnss.jit import compiled

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Table = tuple[IntArray, npt.NDArray[np.int32], FloatArray]  # keys, first senders, receipt times

_MIN_SLOTS = 1024
_MAX_LOAD = 0.6  # linear probing stays short below this


class _Generation:
    """Sentences first received in one window's span: hash → (first sender, receipt time).

    A slot whose key is 0 is empty (0 is "no sentence" and never stored).
    """

    __slots__ = ("count", "devices", "keys", "newest", "opened", "times")

    def __init__(self, opened: float, slots: int = _MIN_SLOTS) -> None:
        self.opened = opened
        self.newest = -np.inf
        self.count = 0
        self.keys = np.zeros(slots, np.int64)
        self.devices = np.zeros(slots, np.int32)
        self.times = np.zeros(slots, np.float64)

    @property
    def table(self) -> Table:
        return self.keys, self.devices, self.times

    def reopen(self, opened: float) -> _Generation:
        """Emptied for reuse: its memory is already mapped, so filling it again costs no page
        faults (a fresh table of millions of slots takes a fault per page as it fills)."""
        self.opened, self.newest, self.count = opened, -np.inf, 0
        self.keys.fill(0)
        return self

    def add(self, hashes: IntArray, devices: IntArray, times: FloatArray) -> None:
        needed = self.count + len(hashes)
        if needed > _MAX_LOAD * len(self.keys):
            slots = max(2 * len(self.keys), int(needed / _MAX_LOAD))
            used = self.keys != 0
            old = self.keys[used], self.devices[used].astype(np.int64), self.times[used]
            self.keys = np.zeros(slots, np.int64)
            self.devices = np.zeros(slots, np.int32)
            self.times = np.zeros(slots, np.float64)
            self.count = _insert(self.table, *old)
        self.count += _insert(self.table, hashes, devices, times)
        self.newest = max(self.newest, float(times.max()))


class ReplayGuard:
    """Remembers who sent each position sentence first, for ``window_s`` seconds."""

    def __init__(self, window_s: float = 120.0) -> None:
        self.window_s = window_s
        self._generations: list[_Generation] = []  # oldest first
        self._spare: _Generation | None = None  # the last one dropped, for reuse

    def __len__(self) -> int:
        return sum(g.count for g in self._generations)

    @property
    def nbytes(self) -> int:
        """The memory its tables take."""
        return sum(g.keys.nbytes + g.devices.nbytes + g.times.nbytes for g in self._generations)

    def check(self, hashes: IntArray, devices: IntArray, received_s: FloatArray) -> BoolArray:
        """Per sentence (arrival order): was it sent first by another device, within the window?

        Hash 0 means "no position sentence" and is never a replay.
        """
        hashes = np.asarray(hashes, dtype=np.int64)
        devices = np.asarray(devices, dtype=np.int64)
        received_s = np.asarray(received_s, dtype=np.float64)
        since = received_s - self.window_s
        first_dev = np.full(len(hashes), -1, dtype=np.int64)
        first_time = np.full(len(hashes), -np.inf)
        for g in self._generations:  # oldest first: the first live sender wins
            _lookup(g.table, hashes, since, (first_dev, first_time))
        # Earlier in this very batch: its first occurrence is the first sender.
        uniq, first_idx, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        from_batch = first_dev < 0
        first_dev = np.where(from_batch, devices[first_idx][inverse], first_dev)
        first_time = np.where(from_batch, received_s[first_idx][inverse], first_time)
        replayed: BoolArray = (hashes != 0) & (first_dev != devices) & (first_time >= since)
        # Remember the sentences nobody had sent before (first occurrences in the batch).
        new = first_idx[(uniq != 0) & (from_batch[first_idx])]
        if len(new):
            self._current(float(received_s[new].max())).add(
                hashes[new], devices[new], received_s[new]
            )
        return replayed

    def _current(self, now: float) -> _Generation:
        """The generation new sentences go to, after dropping those wholly out of reach."""
        # Twice the window: receipt times of different devices are not strictly ordered.
        horizon = now - 2 * self.window_s
        generations = self._generations
        while generations and generations[0].newest < horizon:
            self._spare = generations.pop(0)
        if not generations or now >= generations[-1].opened + self.window_s / 2:
            # Sized for as many sentences as the last one took, so it seldom has to grow.
            expected = 1.1 * generations[-1].count / _MAX_LOAD if generations else 0
            slots = max(_MIN_SLOTS, int(expected))
            spare, self._spare = self._spare, None
            if spare is not None and slots <= len(spare.keys) <= 1.5 * slots:
                generations.append(spare.reopen(now))
            else:
                generations.append(_Generation(now, slots))
        return generations[-1]


@compiled
def _slot(key: int, slots: int) -> int:
    # Multiply-shift: the product's high 32 bits, scaled to any table size (not only powers
    # of two, which would waste up to half of a large table).
    mixed = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return int(np.int64(((mixed >> np.uint64(32)) * np.uint64(slots)) >> np.uint64(32)))


@compiled
def _insert(table: Table, hashes: IntArray, senders: IntArray, received: FloatArray) -> int:
    """Store each (hash → sender, receipt); a hash already here is replaced (its entry is older
    than the window, or the caller would not register it again). Returns how many are new."""
    keys, devices, times = table
    slots = len(keys)
    added = 0
    for i in range(len(hashes)):
        key = hashes[i]
        j = _slot(key, slots)
        while keys[j] != 0 and keys[j] != key:
            j = j + 1 if j + 1 < slots else 0
        if keys[j] == 0:
            added += 1
            keys[j] = key
        devices[j] = senders[i]
        times[j] = received[i]
    return added


@compiled
def _lookup(
    table: Table, hashes: IntArray, since: FloatArray, found: tuple[IntArray, FloatArray]
) -> None:
    """For each hash without a first sender yet (``found``: first sender, −1 for none, and
    its receipt time): this table's sender, if received ``since``."""
    keys, devices, times = table
    first_dev, first_time = found
    slots = len(keys)
    for i in range(len(hashes)):
        key = hashes[i]
        if key == 0 or first_dev[i] >= 0:
            continue
        j = _slot(key, slots)
        while keys[j] != 0:
            if keys[j] == key:
                if times[j] >= since[i]:
                    first_dev[i] = devices[j]
                    first_time[i] = times[j]
                break
            j = j + 1 if j + 1 < slots else 0
