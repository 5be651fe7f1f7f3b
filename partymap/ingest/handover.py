"""Fixes that arrive already decoded — JT/T 808 terminals' locations — handed over to the
running pipeline, with a receipt that says when they are stored.

(A member's phone at a meeting is judged by the API with the same rule functions and
membership instead, see :mod:`api.routes.checkins`: it needs an answer at once, sends a few
positions rather than a dwell's worth, and the API may run without this daemon. Whatever
source hands fixes over, the positions keep it, and a check-in they make rests on it:
``terminal`` for ``jt808``, ``phone`` for ``phone``.)

NMEA sources hand the daemon lines; a source whose protocol is decoded elsewhere hands it
fixes instead — one device's :class:`~gnss.model.Fix` objects (``submit``), or a
:class:`~gnss.fixtable.FixTable` of many devices' fixes read at once (``submit_table``: the
JT/T 808 server's fast lane) — and from the quality rules onward they take exactly the stages
NMEA fixes take (DESIGN §11, "one pipeline for every source")::

    source ──submit(device, fixes) / submit_table(devices, table)──▶ Collector ──Intake.handed──▶
        pipeline: attribute → quality → membership → presence ──StoreBatch.receipts──▶
        writer commits ──▶ receipt

A submission's :class:`Receipt` is a :class:`concurrent.futures.Future` resolved by the
writer thread once the transaction holding its fixes is committed (``asyncio.wrap_future``
awaits it on the loop), so a protocol that acknowledges can acknowledge only what is stored
(DESIGN §11, "acknowledge after storing"). It resolves with the number of its fixes stored: all
of them, but those of devices deactivated meanwhile. If the store refuses the batch for good the
receipt fails with :class:`HandoverRefusedError`; if the daemon stops before the commit (a
crash), it never resolves — the fixes are not acknowledged, and the device sends them again.
When a batch fails and is retried device by device, a submission of many devices is cut with
it (:meth:`Handed.by_device`); its receipt then fails with :class:`PartlyStoredError` if some
devices' fixes were refused or set aside with their quarantined device, naming them, so that the
others are still acknowledged.

A device that re-sends what it could not have acknowledged (a JT/T 808 blind-area batch after a
reconnect) may re-send fixes that were committed just before a crash: ``resent=True`` checks
them against the store, after the device's earlier submissions are settled, and drops those
already stored, so a re-sent fix is never stored twice.

Per device, submissions enter the pipeline in the order they were made; a fix older than the
device's last accepted one is stored but never moves presence backwards (the ``stale`` rule),
exactly as a late NMEA fix.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from gnss.fixtable import FixTable
from gnss.model import Fix
from partymap.ingest.directory import Directory
from store.fix_times import stored_fix_times

__all__ = [
    "Handed",
    "HandedFixes",
    "Handover",
    "HandoverRefusedError",
    "PartlyStoredError",
    "Receipt",
    "SetAsideError",
    "handed_fixes",
    "set_aside",
]

T = TypeVar("T")
# Resolves with the number of the submission's fixes stored, once they are committed.
Receipt: TypeAlias = "Future[int]"

# Stands in for the decoder's device code in a handed fix's table (the pipeline puts the stored
# device id there once it knows it).
_NO_CODE = -1


class HandoverRefusedError(Exception):
    """The store refused, for good, the batch that held a submission's fixes."""


@dataclass(frozen=True, slots=True, eq=False)
class Handed:
    """One submission: fixes of one device or of many (each device's in order), the device of
    each, what source they came by, and their receipt. A submission of many devices is what a
    server reading many terminals at once hands over: one receipt for all."""

    devices: tuple[str, ...]  # of each fix: the id the directory knows the device by (its uid)
    table: FixTable  # the fixes (device code −1: ``devices`` says whose)
    source: str  # stored with the positions: "jt808", "phone"…
    receipt: Receipt
    received_s: float  # when the source received them, UTC seconds

    def __len__(self) -> int:
        return len(self.devices)

    def by_device(self) -> dict[str, Handed]:
        """The submission cut into one per device, each with a receipt of its own; this one's
        is resolved once all of theirs are: with the fixes stored, or with
        :class:`PartlyStoredError` saying which devices were not."""
        firsts = dict.fromkeys(self.devices)
        if len(firsts) == 1:
            return {self.devices[0]: self}
        parts: dict[str, Handed] = {}
        owners = np.array(self.devices, dtype=object)
        for device_id in firsts:
            where = np.flatnonzero(owners == device_id)
            child: Receipt = Future()
            parts[device_id] = Handed(
                (device_id,) * len(where),
                self.table.take(where),
                self.source,
                child,
                self.received_s,
            )
        _gather(self.receipt, {d: p.receipt for d, p in parts.items()})
        return parts


class PartlyStoredError(Exception):
    """Some devices' fixes of a submission were not stored: ``refused`` for good by the store,
    ``set_aside`` with their device (quarantined: nothing is said to them)."""

    def __init__(self, refused: frozenset[str], set_aside: frozenset[str], stored: int) -> None:
        super().__init__(f"{len(refused)} devices refused, {len(set_aside)} set aside")
        self.refused = refused
        self.set_aside = set_aside
        self.stored = stored


class SetAsideError(Exception):
    """The submission's device was quarantined: its fixes were set aside, not stored."""


def _gather(parent: Receipt, children: dict[str, Receipt]) -> None:
    left = [len(children)]

    def one_done(_: Receipt) -> None:
        left[0] -= 1  # callbacks of one batch run on one thread: the writer's
        if left[0] or parent.done():
            return
        refused, set_aside, stored = set(), set(), 0
        for device_id, child in children.items():
            error = child.exception()
            if isinstance(error, SetAsideError):
                set_aside.add(device_id)
            elif error is not None:
                refused.add(device_id)
            else:
                stored += child.result()
        if refused or set_aside:
            error = PartlyStoredError(frozenset(refused), frozenset(set_aside), stored)
            parent.set_exception(error)
        else:
            parent.set_result(stored)

    for child in children.values():
        child.add_done_callback(one_done)


@dataclass(slots=True, eq=False)
class HandedFixes:
    """A batch's handed-over fixes, attributed: what the pipeline joins to the NMEA fixes."""

    table: FixTable  # its ``device`` column: the stored device ids
    members: npt.NDArray[np.int64]  # −1: a device nobody carries
    sources: npt.NDArray[np.object_]
    receipts: list[tuple[Receipt, int]]  # each submission's receipt and its fixes kept


def handed_fixes(directory: Directory, handed: Sequence[Handed]) -> HandedFixes:
    """The pipeline's stage for handed fixes: each with its stored device and member (fixes of
    devices the directory does not know or has deactivated are dropped, and not counted in
    their receipt's result), as the stages after decoding take them."""
    tables, devices, members, sources, receipts = [], [], [], [], []
    for submission in handed:
        entries = [directory.active(d) for d in submission.devices]
        kept = [i for i, entry in enumerate(entries) if entry is not None]
        receipts.append((submission.receipt, len(kept)))
        if not kept:
            continue
        if len(kept) < len(entries):
            tables.append(submission.table.take(np.array(kept, dtype=np.int64)))
        else:
            tables.append(submission.table)
        for i in kept:
            entry = entries[i]
            assert entry is not None
            devices.append(entry.id)
            members.append(-1 if entry.member_id is None else entry.member_id)
        sources += [submission.source] * len(kept)
    table = replace(FixTable.concat(tables), device=np.array(devices, np.int64))
    return HandedFixes(
        table, np.array(members, np.int64), np.array(sources, dtype=object), receipts
    )


def set_aside(handed: Sequence[Handed]) -> None:
    """The submissions' device was quarantined: their receipts say so (nothing is stored)."""
    for submission in handed:
        if not submission.receipt.done():
            submission.receipt.set_exception(SetAsideError(submission.devices[0]))


def settle(receipts: Sequence[tuple[Receipt, int]], error: BaseException | None = None) -> None:
    """Resolve receipts once their batch is committed (or refused for good: ``error``)."""
    for receipt, stored in receipts:
        if receipt.done():
            continue
        if error is None:
            receipt.set_result(stored)
        else:
            receipt.set_exception(HandoverRefusedError(str(error)))


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Handover:
    """The loop's side: ``await handover.submit(device_id, fixes, source=...)`` puts fixes in
    the next micro-batch and returns their receipt.

    ``hand`` passes a submission on to the collector (waiting while the pipeline is behind);
    ``read`` runs a query on a store session off the loop; ``directory`` gives the newest
    device directory (stored device ids for the re-sent check).
    """

    def __init__(
        self,
        hand: Callable[[Handed], Awaitable[None]],
        read: Callable[[Callable[[Session], set[datetime]]], Awaitable[set[datetime]]],
        directory: Callable[[], Directory],
    ) -> None:
        self._hand = hand
        self._read = read
        self._directory = directory
        # Receipts not yet resolved, with the devices whose fixes they carry.
        self._pending: dict[int, tuple[Receipt, frozenset[str]]] = {}
        self._keys = itertools.count()
        self.submitted = 0
        self.fixes_submitted = 0
        self.resent_dropped = 0  # re-sent fixes already stored: not stored again

    async def submit(
        self,
        device_id: str,
        fixes: Sequence[Fix],
        *,
        source: str,
        received_s: float | None = None,
        resent: bool = False,
    ) -> Receipt:
        """Hand ``fixes`` (one device's, in order) to the pipeline; ``resent``: the device may
        be sending again fixes already stored, which are then dropped. An empty submission is
        resolved at once."""
        received = received_s if received_s is not None else datetime.now(UTC).timestamp()
        if resent and fixes:
            fixes = await self._not_stored(device_id, fixes)
        at = _utc(received)
        fixes = [f if f.received_at is not None else replace(f, received_at=at) for f in fixes]
        table = FixTable.from_fixes(fixes, np.full(len(fixes), _NO_CODE, np.int64))
        return await self.submit_table((device_id,) * len(fixes), table, source=source,
                                       received_s=received)  # fmt: skip

    async def submit_table(
        self, devices: tuple[str, ...], table: FixTable, *, source: str, received_s: float
    ) -> Receipt:
        """Hand over the fixes of ``table`` (``devices``: whose each is; each device's in
        order), all under one receipt. An empty submission is resolved at once."""
        receipt: Receipt = Future()
        if not len(table):
            receipt.set_result(0)
            return receipt
        key = next(self._keys)
        self._pending[key] = (receipt, frozenset(devices))
        receipt.add_done_callback(lambda _: self._pending.pop(key, None))  # atomic under the GIL
        self.submitted += 1
        self.fixes_submitted += len(table)
        await self._hand(Handed(devices, table, source, receipt, received_s))
        return receipt

    async def settled(self, device_id: str) -> None:
        """Return once every earlier submission of the device is resolved (stored or refused)."""
        for receipt, devices in list(self._pending.values()):
            if device_id in devices and not receipt.done():
                await asyncio.wait([asyncio.wrap_future(receipt)])

    async def _not_stored(self, device_id: str, fixes: Sequence[Fix]) -> list[Fix]:
        await self.settled(device_id)
        entry = self._directory().active(device_id)
        if entry is None:
            return list(fixes)  # the pipeline drops them and the receipt says so
        times = [f.time for f in fixes]
        device, member = entry.id, entry.member_id
        stored = await self._read(
            lambda s: stored_fix_times(s, device_id=device, member_id=member, times=times)
        )
        fresh = [f for f in fixes if f.time not in stored]
        self.resent_dropped += len(fixes) - len(fresh)
        return fresh
