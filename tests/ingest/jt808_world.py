"""JT/T 808 terminals carried by members, for the server's tests: helmets (2019 headers,
20-digit phone numbers) and badges (2013, 12 digits), with or without a code issued out of
band, and a daemon serving them on a free port."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from devkit.jt808 import BADGE, HELMET, Profile, SimTerminal
from partymap.ingest.sources import SourcePlan
from store import devices, members
from store.models import Position
from tests.ingest.helpers import World

JT808_ONLY = SourcePlan(http=False, jt808_port=0)


@dataclass(frozen=True)
class Carrier:
    member_id: int
    device_id: int
    phone: str
    profile: Profile
    code: bytes | None


def phone_of(n: int, profile: Profile) -> str:
    digits = 20 if profile is HELMET else 12
    return f"1380000{n:04d}".rjust(digits, "0")


def add_terminals(
    engine: Engine,
    world: World,
    count: int,
    *,
    profile: Profile = HELMET,
    issue: bool = False,
    first: int = 0,
    utc_offset_min: int | None = None,
) -> list[Carrier]:
    """``count`` members of the world's branch, each carrying a terminal (a code issued out of
    band when ``issue``, else none: it registers over the air)."""
    made = []
    with Session(engine) as session:
        for n in range(first, first + count):
            member = members.create_member(session, org_id=world.org_id, name=f"工人{n}")
            phone = phone_of(n, profile)
            device = devices.create_device(
                session,
                uid=phone,
                member_id=member.id,
                protocol="jt808",
                utc_offset_min=utc_offset_min,
            )
            code = devices.issue_device_token(session, device_id=device.id) if issue else None
            made.append(
                Carrier(
                    member.id, device.id, phone, profile, None if code is None else code.encode()
                )
            )
        session.commit()
    return made


def terminal(carrier: Carrier) -> SimTerminal:
    return SimTerminal(carrier.phone, carrier.profile, code=carrier.code)


def stored_rows(engine: Engine, device_id: int) -> list[Position]:
    with Session(engine) as session:
        stmt = select(Position).where(Position.device_id == device_id).order_by(Position.fix_time)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows


__all__ = ["BADGE", "HELMET", "JT808_ONLY", "Carrier", "add_terminals", "stored_rows", "terminal"]
