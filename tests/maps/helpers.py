"""Builders for map tests: put demo members somewhere, at a site, checked in."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from geo.model import CheckIn, Evidence, VisitEnded
from gnss.model import Constellation, Fix
from partymap.seed import MEMBERS, SITES, SeededDemo
from store.positions import NewPosition, PositionBatch, write_positions
from store.presence import PresenceRow, save_presence
from store.visits import record_checkin, record_visit_end
from tests.store.helpers import T0
from tests.store.helpers import fix as store_fix

CENTRES = {s.key: s.centre for s in SITES}
DEVICE_OF = {m.name: m.device for m in MEMBERS}


def fix(lon: float, lat: float, when: datetime) -> Fix:
    """The store tests' fix (accuracy 2.5 m, 9 BeiDou satellites used) at ``when``."""
    return store_fix((when - T0).total_seconds(), lat=lat, lon=lon, beidou=9)


def place(
    db: Session,
    demo: SeededDemo,
    name: str,
    where: tuple[float, float] | str,
    *,
    at: datetime,
    track_s: int = 0,
) -> None:
    """The member's device reports ``where`` (lon, lat, or a site key: its centre) at ``at``,
    and once a second for the ``track_s`` seconds before, walking up from 100 m south."""
    lon, lat = CENTRES[where] if isinstance(where, str) else where
    member = demo.members[name]
    device = demo.devices[DEVICE_OF[name]]
    batch = PositionBatch()
    for k in range(track_s, -1, -1):
        offset = k / track_s * 0.0009 if track_s else 0.0
        when = at - timedelta(seconds=k)
        batch.append(NewPosition(device, member, fix(lon, lat - offset, when), when, "test"))
    write_positions(db, batch=batch)
    db.commit()


def at_site(
    db: Session, demo: SeededDemo, name: str, site: str, state: str, *, since: datetime
) -> None:
    """A presence row: the member is ``state`` ("arriving", "present", "leaving") at ``site``."""
    checkin = since if state != "arriving" else None
    row = PresenceRow(demo.members[name], demo.sites[site], state, since, checkin)
    save_presence(db, rows=[row], cleared=[])
    db.commit()


def visit(
    db: Session,
    demo: SeededDemo,
    name: str,
    site: str,
    *,
    start: datetime,
    end: datetime | None = None,
) -> None:
    """A checked-in visit from ``start`` (ongoing when ``end`` is None)."""
    member, site_id = demo.members[name], demo.sites[site]
    evidence = Evidence(sats_used_by_system={Constellation.BEIDOU: 9}, fix_count=5)
    record_checkin(db, checkin=CheckIn(member, site_id, start, evidence))
    if end is not None:
        ended = VisitEnded(member, site_id, start, end, checked_in=True)
        record_visit_end(db, ended=ended)
    db.commit()
