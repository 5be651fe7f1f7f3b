"""Fixes handed over already decoded (JT/T 808, phones) take the NMEA fixes' stages, and their
receipt resolves only once they are committed; re-sent fixes are never stored twice."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from devkit.families import TrackPoint
from gnss.fixtable import FixTable
from gnss.model import Constellation, Fix, FixMode, FixQuality, RawChunk
from partymap.ingest.daemon import Daemon
from partymap.ingest.handover import Handed, PartlyStoredError, set_aside, settle
from partymap.ingest.pipeline import Arrival, Intake, by_device
from partymap.ingest.sources import SourcePlan
from partymap.settings import Settings
from store.models import Position, VisitRow
from tests.ingest.helpers import build_world, stored, visit_track, visits_of
from tests.sources.helpers import run

NOTHING = SourcePlan()


def fixes_of(
    track: list[TrackPoint], *, accuracy_m: float | None = 10.0, beidou: bool = False
) -> list[Fix]:
    """What a terminal's locations become: a position and a stated accuracy, no HDOP (and,
    with ``beidou``, its BeiDou bit set: its whole count taken as BeiDou's)."""
    return [
        Fix(
            time=p.time,
            lat=p.lat,
            lon=p.lon,
            mode=FixMode.THREE_D,
            quality=FixQuality.GPS,
            sats_used=8,
            sats_used_by_system={Constellation.BEIDOU: 8} if beidou else {},
            accuracy_m=accuracy_m,
            raw_position=f"terminal {p.time.isoformat()} {p.lat} {p.lon}",
        )
        for p in track
    ]


def rejections(engine: Engine, device_id: int) -> list[str | None]:
    with Session(engine) as session:
        stmt = select(Position.rejections).where(Position.device_id == device_id)
        return list(session.scalars(stmt.order_by(Position.id)))


def test_handed_fixes_check_in_and_their_receipt_follows_the_commit(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 2, prefix="helmet")
    person = world.people[0]
    fixes = fixes_of(visit_track())
    committed_at_receipt: list[int] = []

    async def main() -> list[int]:
        async with Daemon(settings, engine, NOTHING) as daemon:
            receipts = []
            for at in range(0, len(fixes), 7):
                receipt = await daemon.handover.submit(
                    person.uid, fixes[at : at + 7], source="jt808"
                )
                receipt.add_done_callback(
                    lambda _: committed_at_receipt.append(len(stored(engine, person.device_id)))
                )
                receipts.append(receipt)
            counts = []
            for r in receipts:
                counts.append(await asyncio.wrap_future(r))
            unknown = await daemon.handover.submit("nobody", fixes[:3], source="jt808")
            counts.append(await asyncio.wrap_future(unknown))
            return counts

    counts = run(main())
    assert sum(counts[:-1]) == len(fixes) and counts[-1] == 0
    # Each receipt resolved with its fixes already in the store (never before the commit).
    assert committed_at_receipt == sorted(committed_at_receipt)
    assert all(n >= 7 * (k + 1) or n == len(fixes) for k, n in enumerate(committed_at_receipt))
    assert len(stored(engine, person.device_id)) == len(fixes)
    assert set(rejections(engine, person.device_id)) == {None}  # no HDOP, yet accepted
    ((start, end, checkin),) = visits_of(engine, person.member_id)
    assert checkin == start and end is not None


def visit_evidence(engine: Engine, member_id: int) -> list[tuple[bool, str | None]]:
    with Session(engine) as session:
        rows = session.scalars(select(VisitRow).where(VisitRow.member_id == member_id))
        return [(v.beidou_verified, (v.evidence or {}).get("kind")) for v in rows]


@pytest.mark.parametrize(("source", "kind"), [("jt808", "terminal"), ("phone", "phone")])
def test_a_check_in_made_by_handed_fixes_rests_on_their_source_not_on_beidou(
    settings: Settings, engine: Engine, source: str, kind: str
) -> None:
    world = build_world(engine, 1, prefix="helmet")
    person = world.people[0]
    fixes = fixes_of(visit_track(), beidou=True)

    async def main() -> int:
        async with Daemon(settings, engine, NOTHING) as daemon:
            receipt = await daemon.handover.submit(person.uid, fixes, source=source)
            return await asyncio.wrap_future(receipt)

    assert run(main()) == len(fixes)
    # The terminal says it used 8 BeiDou satellites: BeiDou-verified by its own word, and the
    # check-in says whose word it was.
    assert visit_evidence(engine, person.member_id) == [(True, kind)]


def test_fixes_without_hdop_or_accuracy_are_rejected_as_nmea_ones(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 1, prefix="phone")
    person = world.people[0]
    fixes = fixes_of(visit_track(), accuracy_m=None)

    async def main() -> int:
        async with Daemon(settings, engine, NOTHING) as daemon:
            receipt = await daemon.handover.submit(person.uid, fixes, source="phone")
            return await asyncio.wrap_future(receipt)

    assert run(main()) == len(fixes)
    assert set(rejections(engine, person.device_id)) == {"hdop_too_high"}
    assert visits_of(engine, person.member_id) == []


def test_resent_fixes_already_stored_are_not_stored_again(
    settings: Settings, engine: Engine
) -> None:
    world = build_world(engine, 1, prefix="helmet")
    person = world.people[0]
    fixes = fixes_of(visit_track(datetime(2026, 5, 1, 8, 0, tzinfo=UTC)))
    first, rest = fixes[:40], fixes[40:]

    async def main() -> tuple[int, int, int]:
        async with Daemon(settings, engine, NOTHING) as daemon:
            handover = daemon.handover
            await handover.submit(person.uid, first, source="jt808")  # never awaited
            # Sent again at once (the acknowledgements were lost): waits for the first
            # submission, then drops what it stored.
            again = await handover.submit(
                person.uid, first + rest[:10], source="jt808", resent=True
            )
            stored_again = await asyncio.wrap_future(again)
        async with Daemon(settings, engine, NOTHING) as daemon:  # a restart
            after = await daemon.handover.submit(person.uid, fixes, source="jt808", resent=True)
            return stored_again, await asyncio.wrap_future(after), daemon.handover.resent_dropped

    stored_again, after_restart, dropped = run(main())
    assert stored_again == 10
    assert after_restart == len(rest) - 10 and dropped == 50
    times = stored(engine, person.device_id)
    assert len(times) == len(set(times)) == len(fixes)


def test_a_failed_batch_cut_by_device_keeps_each_devices_handed_fixes() -> None:
    """When a batch fails and is retried device by device, fixes handed over are retried with
    their device (not dropped with their receipts left unresolved)."""
    chunk = RawChunk("nmea-1", b"$GPGGA\r\n", 0.0)
    empty = FixTable.empty()
    handed = [
        Handed(("term-1",), empty, "jt808", Future(), 0.0),
        Handed(("nmea-1",), empty, "phone", Future(), 0.0),
        Handed(("term-1",), empty, "jt808", Future(), 1.0),
    ]
    intake = Intake([Arrival([chunk], "tcp", False)], 0.0, handed=handed)
    parts = by_device(intake)
    assert parts["term-1"].handed == [handed[0], handed[2]]
    assert parts["nmea-1"].handed == [handed[1]]
    assert parts["nmea-1"].arrivals[0].chunks == [chunk]


def _table(n: int) -> FixTable:
    when = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    fixes = [
        Fix(time=when + timedelta(seconds=k), lat=30.5, lon=114.3, mode=FixMode.THREE_D,
            quality=FixQuality.GPS)
        for k in range(n)
    ]  # fmt: skip
    return FixTable.from_fixes(fixes, np.full(n, -1))


def test_a_submission_of_many_devices_is_cut_by_device_and_answers_for_each() -> None:
    """A server's submission of many terminals' reports, cut by device after a failed batch:
    each device keeps its own fixes in order, and the submission's receipt says which devices'
    fixes were stored, refused or set aside (quarantined) once every part is settled."""
    table = _table(5)
    receipt: Future[int] = Future()
    devices = ("a", "b", "a", "c", "b")
    parts = Handed(devices, table, "jt808", receipt, 0.0).by_device()
    assert list(parts) == ["a", "b", "c"]
    assert parts["a"].table.time_us.tolist() == table.time_us[[0, 2]].tolist()
    assert parts["b"].devices == ("b", "b") and len(parts["c"]) == 1
    settle([(parts["a"].receipt, 2)])
    set_aside([parts["c"]])
    assert not receipt.done()
    settle([(parts["b"].receipt, 2)], RuntimeError("the store refuses"))
    error = receipt.exception()
    assert isinstance(error, PartlyStoredError)
    assert (error.refused, error.set_aside, error.stored) == ({"b"}, {"c"}, 2)

    whole: Future[int] = Future()
    for part in Handed(devices, table, "jt808", whole, 0.0).by_device().values():
        settle([(part.receipt, len(part))])
    assert whole.result() == 5
