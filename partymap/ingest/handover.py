"""Fixes that arrive already decoded — JT/T 808 terminals' locations — handed over to the
running pipeline, with a receipt that says when they are stored.

(A member's phone at a meeting is judged by the API with the same rule functions and
membership instead, see :mod:`api.routes.checkins`: it needs an answer at once, sends a few
positions rather than a dwell's worth, and the API may run without this daemon. Whatever
source hands fixes over, the positions keep it, and a check-in they make rests on it:
``terminal`` for ``jt808``, ``phone`` for ``phone``.)

NMEA sources hand the daemon lines; a source whose protocol is decoded elsewhere hands it
:class:`~gnss.model.Fix` objects instead, and from the quality rules onward they take exactly
the stages NMEA fixes take (DESIGN §11, "one pipeline for every source")::

    source ──submit(device, fixes)──▶ Collector ──Intake.handed──▶ pipeline: attribute →
        quality → membership → presence ──StoreBatch.receipts──▶ writer commits ──▶ receipt

A submission's :class:`Receipt` is a :class:`concurrent.futures.Future` resolved by the
writer thread once the transaction holding its fixes is committed (``asyncio.wrap_future``
awaits it on the loop), so a protocol that acknowledges can acknowledge only what is stored
(DESIGN §11, "acknowledge after storing"). It resolves with the number of its fixes stored: all
of them, or none when the device was deactivated meanwhile. If the store refuses the batch for
good the receipt fails with :class:`HandoverRefusedError`; if the daemon stops before the
commit (a crash), it never resolves — the fixes are not acknowledged, and the device sends them
again.

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
import collections
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from geo.columns import FixColumns
from gnss.fixtable import FixTable
from gnss.model import Fix
from partymap.ingest.directory import Directory
from store.fix_times import stored_fix_times

__all__ = ["Handed", "HandedFixes", "Handover", "HandoverRefusedError", "Receipt", "handed_fixes"]

T = TypeVar("T")
# Resolves with the number of the submission's fixes stored, once they are committed.
Receipt: TypeAlias = "Future[int]"

# Stands in for the decoder's device code in a handed fix's table (the pipeline's stages after
# decoding use the stored device id of its columns).
_NO_CODE = -1


class HandoverRefusedError(Exception):
    """The store refused, for good, the batch that held a submission's fixes."""


@dataclass(frozen=True, slots=True, eq=False)
class Handed:
    """One submission: a device's fixes (in order), what source they came by, their receipt."""

    device_id: str  # the id the directory knows the device by (its uid)
    fixes: tuple[Fix, ...]
    source: str  # stored with the positions: "jt808", "phone"…
    receipt: Receipt
    received_s: float  # when the source received them, UTC seconds


@dataclass(slots=True, eq=False)
class HandedFixes:
    """A batch's handed-over fixes, attributed: what the pipeline joins to the NMEA fixes."""

    table: FixTable
    sources: npt.NDArray[np.object_]
    cols: FixColumns
    receipts: list[tuple[Receipt, int]]  # each submission's receipt and its fixes kept


def handed_fixes(directory: Directory, handed: Sequence[Handed]) -> HandedFixes:
    """The pipeline's stage for handed fixes: each with its stored device and member (fixes of
    devices the directory does not know or has deactivated are dropped, their receipts say
    0), as the columns the stages after decoding take."""
    kept: list[Fix] = []
    devices: list[int] = []
    members: list[int] = []
    sources: list[str] = []
    receipts = []
    for submission in handed:
        entry = directory.active(submission.device_id)
        if entry is None:
            receipts.append((submission.receipt, 0))
            continue
        fixes = [
            f if f.received_at is not None else replace(f, received_at=_utc(submission.received_s))
            for f in submission.fixes
        ]
        kept += fixes
        devices += [entry.id] * len(fixes)
        members += [-1 if entry.member_id is None else entry.member_id] * len(fixes)
        sources += [submission.source] * len(fixes)
        receipts.append((submission.receipt, len(fixes)))
    table = FixTable.from_fixes(kept, np.full(len(kept), _NO_CODE, np.int64))
    cols = FixColumns.from_table(
        table, devices=np.array(devices, np.int64), members=np.array(members, np.int64)
    )
    return HandedFixes(table, np.array(sources, dtype=object), cols, receipts)


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
        # Each device's receipts not yet resolved, oldest first.
        self._pending: dict[str, collections.deque[Receipt]] = {}
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
        receipt: Receipt = Future()
        if resent and fixes:
            fixes = await self._not_stored(device_id, fixes)
        if not fixes:
            receipt.set_result(0)
            return receipt
        pending = self._pending.setdefault(device_id, collections.deque())
        pending.append(receipt)
        receipt.add_done_callback(lambda _: self._forget(device_id, receipt))
        self.submitted += 1
        self.fixes_submitted += len(fixes)
        await self._hand(Handed(device_id, tuple(fixes), source, receipt, received))
        return receipt

    async def settled(self, device_id: str) -> None:
        """Return once every earlier submission of the device is resolved (stored or refused)."""
        for receipt in list(self._pending.get(device_id, ())):
            if not receipt.done():
                await asyncio.wait([asyncio.wrap_future(receipt)])

    def _forget(self, device_id: str, receipt: Receipt) -> None:
        # Runs on the writer thread: deque.remove is atomic under the GIL.
        pending = self._pending.get(device_id)
        if pending is not None:
            with contextlib.suppress(ValueError):
                pending.remove(receipt)

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
