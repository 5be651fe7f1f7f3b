"""Alarms raised by devices — a JT/T 808 terminal's SOS (emergency) button — stored once per
device, kind and fix time, and listed for the organisations a caller may see.

>>> SOS
'sos'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.errors import InvalidValueError
from store.models import AlarmRow, Organisation
from store.orgs import org_scope
from store.types import utcnow

SOS = "sos"


@dataclass(frozen=True, slots=True)
class RaisedAlarm:
    id: int
    kind: str
    device_id: int
    member_id: int | None
    org_id: int | None
    org_path: str | None
    fix_time: datetime
    lat: float | None
    lon: float | None
    raised_at: datetime

    def event(self) -> dict[str, Any]:
        """The live feed's event (``type`` ``alarm``), filtered by ``org_path`` per caller."""
        return {
            "type": "alarm",
            "alarm": self.kind,
            "id": self.id,
            "device_id": self.device_id,
            "member_id": self.member_id,
            "org_id": self.org_id,
            "org_path": self.org_path,
            "time": self.fix_time.isoformat(),
            "lat": self.lat,
            "lon": self.lon,
        }


def raise_alarm(
    session: Session,
    *,
    kind: str,
    device_id: int,
    member_id: int | None,
    org_id: int | None,
    fix_time: datetime,
    lat: float | None,
    lon: float | None,
    now: datetime | None = None,
) -> int | None:
    """Store the alarm unless the device raised it for this fix already; its id if new."""
    values = {
        "kind": kind,
        "device_id": device_id,
        "member_id": member_id,
        "org_id": org_id,
        "fix_time": fix_time,
        "lat": lat,
        "lon": lon,
        "raised_at": now or utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(AlarmRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["device_id", "kind", "fix_time"])
        .returning(AlarmRow.id)
    )
    found: int | None = session.execute(stmt).scalar()
    return found


def list_alarms(
    session: Session,
    *,
    within_org_id: int | None = None,
    member_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[RaisedAlarm]:
    """Alarms, newest first; ``within_org_id`` keeps those of the subtree's members."""
    stmt = (
        select(AlarmRow, Organisation.path)
        .outerjoin(Organisation, Organisation.id == AlarmRow.org_id)
        .order_by(AlarmRow.id.desc())
    )
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, AlarmRow.org_id, within_org_id=within_org_id))
    if member_id is not None:
        stmt = stmt.where(AlarmRow.member_id == member_id)
    if offset < 0 or (limit is not None and limit < 0):
        raise InvalidValueError(f"limit {limit} and offset {offset} must not be negative")
    stmt = stmt.offset(offset).limit(limit)
    return [_alarm(row, path) for row, path in session.execute(stmt)]


def get_alarm(session: Session, *, alarm_id: int) -> RaisedAlarm | None:
    found = session.execute(
        select(AlarmRow, Organisation.path)
        .outerjoin(Organisation, Organisation.id == AlarmRow.org_id)
        .where(AlarmRow.id == alarm_id)
    ).one_or_none()
    return None if found is None else _alarm(*found)


def _alarm(row: AlarmRow, path: str | None) -> RaisedAlarm:
    return RaisedAlarm(
        id=row.id,
        kind=row.kind,
        device_id=row.device_id,
        member_id=row.member_id,
        org_id=row.org_id,
        org_path=path,
        fix_time=row.fix_time,
        lat=row.lat,
        lon=row.lon,
        raised_at=row.raised_at,
    )
