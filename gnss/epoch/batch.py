"""The fast path: micro-batches of chunks from many devices decoded as columns.

:class:`BatchDecoder` keeps every device's state in columns (:mod:`gnss.epoch.devices`). A batch is
read by a compiled line scanner (:mod:`gnss.nmea.scan`), cut into epochs
(:mod:`gnss.epoch.batch_rules`) and finished into fix columns (:mod:`gnss.epoch.batch_assemble`) for
all its devices at once: a device in its steady state costs no Python of its own, and a new device
learns its cycle ender there too. Whatever the columns decline goes to the reference (the hand-off:
:mod:`gnss.epoch.handoff`): a line they cannot read exactly is parsed by
:func:`gnss.nmea.parser.parse_line`; from the first epoch that is not regular (a cold start without
times, times that disagree, a sentence only the reference can read…) a device's lines go through the
reference :class:`~gnss.epoch.decoder.Decoder` on the same state until it is back on an epoch
boundary with a known ender, and the rest returns to the columns. Fixes, rejections and counts are
therefore the reference's exactly (the differential tests check it).

:meth:`BatchDecoder.decode_table` gives the batch's fixes as a :class:`~gnss.fixtable.FixTable`
(what the ingestion pipeline takes); :meth:`BatchDecoder.decode` gives ``Fix`` objects.

An open epoch is kept as its raw lines and decoded again with the next batch (without being
counted twice), so either path can take a device over at any line.

>>> from gnss.model import RawChunk
>>> fast = BatchDecoder()
>>> result = fast.decode([RawChunk("dev-1", b"$GPZDA,120000,01,05,2026,,*49\\r\\n", 0.0)])
>>> [f.time.isoformat() for f in fast.flush()["dev-1"]]
['2026-05-01T12:00:00+00:00']
>>> fast.totals["dev-1"].accepted
1
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gnss.epoch.batch_assemble import MemoryColumns, finish_epochs
from gnss.epoch.batch_rules import aggregate, learn_enders, segment
from gnss.epoch.decoder import Counts, Decoder
from gnss.epoch.devices import (
    COUNT_COLUMNS,
    FIXES,
    UNDATED,
    UNTIMED,
    DeviceColumns,
    StatesView,
    TotalsView,
    add_counts,
    counts_of,
)
from gnss.epoch.handoff import NO_CUT, Parts, count_decided, cuts, rest_parts
from gnss.epoch.rules import DeviceState, is_epoch_sentence
from gnss.fixtable import FixTable
from gnss.model import Fix, RawChunk
from gnss.nmea.lines import Lines
from gnss.nmea.parser import parse_line
from gnss.nmea.scan import DECLINED, DECODED, decode_lines

__all__ = ["BatchDecoder", "BatchResult", "FixBatch"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

MAX_ROUNDS = 4  # column passes per batch; after the last, the reference finishes the batch
WARM_UP_LINES = 1024  # reference lines to find an epoch boundary before giving up for the batch


@dataclass(slots=True)
class BatchResult:
    """Per device: the fixes of the epochs this batch closed, in order, and what its lines
    became (counts of this batch only; :attr:`BatchDecoder.totals` has the running totals)."""

    fixes: dict[str, list[Fix]] = field(default_factory=dict)
    counts: dict[str, Counts] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class FixBatch:
    """A batch as columns: its fixes (``table.device`` holds device codes, each device's fixes
    in order, devices in the order of their first chunk) and, per device of the batch
    (``devices``, codes in that order), its counts (columns of
    :data:`gnss.epoch.devices.COUNT_COLUMNS`) for this batch."""

    table: FixTable
    devices: Ints
    counts: Ints


@dataclass(slots=True)
class _Pieces:
    """A batch's fixes as they are made, in order: tables of the columns and fixes of the
    reference (each with the batch's device index)."""

    items: list[FixTable | tuple[int, list[Fix]]] = field(default_factory=list)


class BatchDecoder:
    """Decodes batches of :class:`~gnss.model.RawChunk` from many devices at once.

    ``arrival_times=False`` says the chunks' ``received_at`` is not when the lines arrived (a
    log replayed as fast as it can be read): fixes then get no ``received_at`` and GGA-only
    epochs are not dated from it.
    """

    def __init__(self, *, arrival_times: bool = True) -> None:
        self.arrival_times = arrival_times
        self._devices = DeviceColumns()
        # Received lines by the path that decided them: "columns" or "reference" (a measure
        # of how much the fast path does; lines of a batch's open epochs are counted once).
        self.lines_by_path: Counter[str] = Counter()

    # -- what it knows ----------------------------------------------------------------------

    @property
    def device_ids(self) -> list[str]:
        """Every device seen, by code (a code is the index here, and never changes)."""
        return self._devices.ids

    def code(self, device_id: str) -> int | None:
        """The device's code (None: not seen yet)."""
        return self._devices.code(device_id)

    @property
    def totals(self) -> Mapping[str, Counts]:
        """Running counts by device id."""
        return TotalsView(self._devices)

    @property
    def states(self) -> Mapping[str, DeviceState]:
        """Each device's state, as the reference path would keep it (snapshots)."""
        return StatesView(self._devices)

    def open_lines(self, device_id: str) -> list[bytes]:
        """The lines of the device's open epoch (read, counted, not yet a fix): what a
        resumable replay must read again after a restart."""
        code = self._devices.code(device_id)
        return [] if code is None else self._devices.open_lines(code)

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, chunks: Sequence[RawChunk]) -> BatchResult:
        """The batch's fixes as ``Fix`` objects, by device."""
        devices, counts, pieces = self._decode(chunks)
        ids = self._devices.ids
        result = BatchResult()
        names = [ids[code] for code in devices.tolist()]
        for name, row in zip(names, counts, strict=True):
            result.fixes[name] = []
            result.counts[name] = counts_of(row)
        for item in pieces.items:
            if isinstance(item, FixTable):
                for device, fix in zip(item.device.tolist(), item.fixes(), strict=True):
                    result.fixes[names[device]].append(fix)
            else:
                result.fixes[names[item[0]]] += item[1]
        return result

    def decode_table(self, chunks: Sequence[RawChunk]) -> FixBatch:
        """The batch's fixes as columns (device codes: :attr:`device_ids`)."""
        devices, counts, pieces = self._decode(chunks)
        parts = [
            item
            if isinstance(item, FixTable)
            else FixTable.from_fixes(item[1], np.full(len(item[1]), item[0], np.int64))
            for item in pieces.items
        ]
        table = FixTable.concat(parts)
        if len(parts) > 1:  # the reference's fixes go after the columns' of their device
            table = table.take(np.argsort(table.device, kind="stable"))
        table.device = devices[table.device]
        return FixBatch(table, devices, counts)

    def flush(self, device_id: str | None = None) -> dict[str, list[Fix]]:
        """Closes open epochs (all devices, or one) as at the end of their streams."""
        names = list(self._devices.ids) if device_id is None else [device_id]
        fixes = {}
        for name in names:
            code = self._devices.code(name)
            if code is None:
                raise KeyError(name)
            state = self._devices.state(code, with_pending=True)
            counts = Counts()
            fixes[name] = Decoder(state, counts).flush()
            self._devices.put_state(code, state)
            add_counts(self._devices.totals[code], counts)
        return fixes

    def _decode(self, chunks: Sequence[RawChunk]) -> tuple[Ints, Ints, _Pieces]:
        """(the batch's device codes, their counts for this batch, the fixes made)."""
        dv = self._devices
        codes = dv.codes([c.device_id for c in chunks])
        unique, first = np.unique(codes, return_index=True)
        order = np.argsort(first, kind="stable")
        devices = unique[order]  # in the order of their first chunk
        index_of = np.empty(len(unique), dtype=np.int64)
        index_of[order] = np.arange(len(unique))
        chunk_device = index_of[np.searchsorted(unique, codes)]
        counts = np.zeros((len(devices), len(COUNT_COLUMNS)), dtype=np.int64)
        pieces = _Pieces()
        parts: Parts | None = self._parts(chunks, devices, chunk_device)
        for round_ in range(MAX_ROUNDS):
            if parts is None:
                break
            parts = self._round(parts, devices, counts, pieces, final=round_ == MAX_ROUNDS - 1)
        dv.totals[devices] += counts
        return devices, counts, pieces

    def _parts(self, chunks: Sequence[RawChunk], devices: Ints, chunk_device: Ints) -> Parts | None:
        """The chunks' bytes grouped by device, each device's open epoch first (not counted)."""
        dv = self._devices
        data = [c.data for c in chunks]
        if self.arrival_times:
            received = np.array([c.received_at for c in chunks], dtype=np.float64)
        else:
            received = np.full(len(chunks), np.nan)
        counted = np.ones(len(chunks), dtype=bool)
        if not all(d.endswith(b"\n") for d in data):
            kept = [k for k, d in enumerate(data) if d]
            data = [data[k] if data[k].endswith(b"\n") else data[k] + b"\n" for k in kept]
            received, chunk_device, counted = received[kept], chunk_device[kept], counted[kept]
        if dv.pending:
            index = {code: k for k, code in enumerate(devices.tolist())}
            opened = [(index[c], dv.pending.pop(c)) for c in list(dv.pending) if c in index]
            if opened:  # before the chunks: a stable sort keeps them first
                data = [raw + b"\n" for _, (raw, _) in opened] + data
                received = np.concatenate(
                    [np.array([r for _, (_, r) in opened], dtype=np.float64), received]
                )
                if not self.arrival_times:
                    received[:] = np.nan
                chunk_device = np.concatenate(
                    [np.array([k for k, _ in opened], dtype=np.int64), chunk_device]
                )
                counted = np.concatenate([np.zeros(len(opened), bool), counted])
        if not data:
            return None
        order = np.argsort(chunk_device, kind="stable")
        return Parts(
            [data[k] for k in order.tolist()], chunk_device[order], counted[order], received[order]
        )

    def _round(
        self, parts: Parts, devices: Ints, counts: Ints, pieces: _Pieces, *, final: bool
    ) -> Parts | None:
        """One column pass over the parts; returns the parts left for another pass."""
        dv = self._devices
        lines = decode_lines(b"".join(parts.data))
        offsets = np.cumsum([0] + [len(d) for d in parts.data[:-1]])
        which = np.searchsorted(offsets, lines.start, side="right") - 1
        owner = parts.device[which]
        counted = parts.counted[which]
        received = parts.received[which]

        outcomes = {
            i: parse_line(lines.buf[lines.start[i] : lines.end[i]])
            for i in np.flatnonzero(lines.status == DECLINED).tolist()
        }
        participating = np.flatnonzero(lines.status == DECODED)
        # Declined lines that the reference reads as epoch sentences: the columns stop there.
        epochal = np.array(
            [i for i, found in outcomes.items() if any(map(is_epoch_sentence, found))],
            dtype=np.int64,
        )
        blocked = np.full(len(devices), NO_CUT, dtype=np.int64)
        np.minimum.at(blocked, owner[epochal], epochal)
        learned = learn_enders(lines, participating, owner, dv.ender[devices], blocked)
        seg = segment(lines, participating, owner, learned, dv.last_tod[devices])
        cut = cuts(seg, epochal, owner, len(devices))
        # An ender counts once its first epoch is the columns' (else the reference learns it).
        taught = learned.new & (cut > learned.first_end)
        dv.ender[devices[taught]] = learned.ender[taught]

        before = np.arange(len(lines.start)) < cut[owner]
        mine = counted & before
        count_decided(counts, lines, owner, mine, outcomes)
        self.lines_by_path["columns"] += int(mine.sum())
        seg_device = seg.device[seg.first]
        keep = seg.closed & seg.fine & (seg.lines[seg.last] < cut[seg_device])
        epochs = aggregate(lines, seg, keep)
        if len(epochs.tod):
            memory = dv.memory
            mine_memory = MemoryColumns(
                memory.day[devices], memory.tod_us[devices], memory.three_d[devices]
            )
            finished, last_tod = finish_epochs(lines, epochs, received, mine_memory)
            memory.day[devices] = mine_memory.day
            memory.tod_us[devices] = mine_memory.tod_us
            memory.three_d[devices] = mine_memory.three_d
            moved = last_tod >= 0
            dv.last_tod[devices[moved]] = last_tod[moved]
            dev = epochs.device
            np.add.at(counts[:, FIXES], dev[finished.fix], 1)
            np.add.at(counts[:, UNTIMED], dev[finished.untimed], 1)
            np.add.at(counts[:, UNDATED], dev[finished.undated], 1)
            if len(finished.table):
                pieces.items.append(finished.table)
        for k in np.flatnonzero(~seg.closed & (cut[seg_device] == NO_CUT)).tolist():
            rows = seg.lines[seg.first[k] : seg.last[k] + 1].tolist()  # a device's last segment
            raw = b"\n".join(lines.buf[lines.start[i] : lines.end[i]] for i in rows)
            dv.pending[int(devices[seg_device[k]])] = (raw, float(received[rows[-1]]))

        left: list[Parts] = []
        for index in np.flatnonzero(cut < NO_CUT).tolist():
            rows = np.flatnonzero((owner == index) & ~before).tolist()
            rest = self._reference(
                lines,
                rows,
                index=index,
                code=int(devices[index]),
                counted=counted,
                received=received,
                batch_counts=counts,
                pieces=pieces,
                final=final,
            )
            if rest is not None:
                left.append(rest)
        if not left:
            return None
        return Parts(
            [d for p in left for d in p.data],
            np.concatenate([p.device for p in left]),
            np.concatenate([p.counted for p in left]),
            np.concatenate([p.received for p in left]),
        )

    def _reference(
        self,
        lines: Lines,
        rows: list[int],
        *,
        index: int,
        code: int,
        counted: Mask,
        received: Floats,
        batch_counts: Ints,
        pieces: _Pieces,
        final: bool,
    ) -> Parts | None:
        """Feeds ``rows`` of one device to the reference until it has closed an epoch and knows
        the ender; returns the lines still to decode, if any."""
        dv = self._devices
        state = dv.state(code)
        counts = Counts()
        decoder = Decoder(state, counts)
        fixes: list[Fix] = []
        rest = None
        for n, i in enumerate(rows):
            self.lines_by_path["reference"] += bool(counted[i])
            value = float(received[i])
            line = lines.buf[lines.start[i] : lines.end[i]]
            closed = counts.fixes + counts.untimed_epochs + counts.undated_epochs
            fixes += decoder.feed(
                line, None if math.isnan(value) else value, counted=bool(counted[i])
            )
            closed -= counts.fixes + counts.untimed_epochs + counts.undated_epochs
            # Past an epoch the columns could not vouch for, and the ender is known: hand the
            # rest back (with the open epoch, which the columns decode again).
            ready = closed and state.ender is not None
            if ready and not final and n < WARM_UP_LINES and n + 1 < len(rows):
                rest = rest_parts(
                    state, lines, rows[n + 1 :], index=index, flags=(counted, received)
                )
                break
        dv.put_state(code, state)
        add_counts(batch_counts[index], counts)
        if fixes:
            pieces.items.append((index, fixes))
        return rest
