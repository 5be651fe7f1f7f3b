"""Decoding: NMEA lines → epochs → fixes, each with its stored device and member."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from gnss.epoch.batch import BatchDecoder
from gnss.epoch.devices import counts_of
from gnss.fixtable import FixTable
from partymap.ingest.directory import DeviceCodes, Directory
from partymap.ingest.intake import Arrival, Fixes, Intake, lines_in
from partymap.ingest.metrics import IngestStats
from partymap.ingest.offsets import ResumePoints
from partymap.ingest.supervisor import DecoderSupervisor


class Decoding:
    """The batch decoder (in process, or the decoder process through its
    :class:`~partymap.ingest.supervisor.DecoderSupervisor`) with each device's open epoch, the
    resume points of the streams that resume from a byte offset (replayed logs), and each
    device's source as its latest chunk came (stored with its fixes)."""

    def __init__(self, decoder: BatchDecoder | DecoderSupervisor, stats: IngestStats) -> None:
        self.decoder = decoder
        self.resume = ResumePoints()
        self._source_of: dict[str, str] = {}
        self._codes = DeviceCodes()  # decoder code → stored ids
        self._stats = stats

    def closing(self, intake: Intake) -> list[str]:
        """Devices whose open epoch this batch closes: streams that ended, and on the last
        batch every device but the resumable streams."""
        if not intake.final:
            return intake.ended
        return [*intake.ended, *(d for d in self.decoder.device_ids if d not in self.resume)]

    def __call__(self, arrivals: Sequence[Arrival], ended: Sequence[str]) -> FixTable:
        """The fast path of the GNSS core over the batch; ended streams close their open
        epochs."""
        stats, decoder = self._stats, self.decoder
        chunks = []
        for a in arrivals:
            self._source_of.update(dict.fromkeys([c.device_id for c in a.chunks], a.source))
            stats.lines_read[a.source] += lines_in(a.chunks)
            for chunk in a.chunks:
                self.resume.received(chunk)
            chunks += a.chunks if a.timed else [replace(c, received_at=math.nan) for c in a.chunks]
        batch = decoder.decode_table(chunks)
        ids = decoder.device_ids
        labels = [self._source_of[ids[code]] for code in batch.devices.tolist()]
        for label in set(labels):
            rows = [k for k, other in enumerate(labels) if other == label]
            stats.count_lines(label, counts_of(batch.counts[rows].sum(axis=0)))
        for row, code in enumerate(batch.devices.tolist()):
            counts = counts_of(batch.counts[row])
            outcomes = Counter(stats.device_lines.get(ids[code], ()))
            outcomes["accepted"] += counts.accepted
            outcomes.update(counts.rejected)
            stats.device_lines[ids[code]] = outcomes
        tables = [batch.table]
        for device_id in ended:
            code = decoder.code(device_id)
            if code is not None:
                flushed = decoder.flush(device_id)[device_id]
                tables.append(FixTable.from_fixes(flushed, np.full(len(flushed), code, np.int64)))
        return FixTable.concat(tables)

    def attribute(self, table: FixTable, directory: Directory) -> Fixes:
        """Each fix with its stored device's id (in the table's ``device`` column, instead of
        the decoder's code) and its member's (−1: a device nobody carries); fixes of devices
        the directory no longer has are dropped."""
        ids = self.decoder.device_ids
        device_of, member_of = self._codes.lookup(directory, ids)
        devices = device_of[table.device]
        if np.any(devices < 0):
            table = table.take(np.flatnonzero(devices >= 0))
            devices = device_of[table.device]
        codes, where = np.unique(table.device, return_inverse=True)
        labels = np.array([self._source_of[ids[code]] for code in codes.tolist()], dtype=object)
        members = member_of[table.device]
        self._stats.fixes += len(table)
        return Fixes(replace(table, device=devices), members, labels[where.ravel()])

    def safe_offsets(self, intake: Intake) -> dict[str, int]:
        """For each resumable stream in the batch, the offset up to which it is now stored."""
        device_ids = {c.device_id for a in intake.arrivals for c in a.chunks} | set(intake.ended)
        offsets = {}
        for device_id in device_ids:
            if device_id in self.resume:
                key, offset = self.resume.settle(device_id, self.decoder.open_lines(device_id))
                offsets[key] = offset
        return offsets
