"""Members' phones: a device of kind ``phone``, bound to its member at first use.

The member page names its phone with a random identifier it keeps (``phone:<uuid>``). The first
phone a member checks in from is bound to them at once; another phone is recorded as waiting
(``bound_at`` None, inactive) until a secretary approves it, which retires the old one. A phone
identifier already bound to someone else is never rebound.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.errors import ConflictError, NotFoundError
from store.members import get_member
from store.models import Device, Member, Organisation
from store.orgs import org_scope
from store.query import page
from store.types import utcnow

PHONE = "phone"


class PhoneState(enum.Enum):
    BOUND = "bound"  # this member's phone: check-ins are taken
    PENDING = "pending"  # a second phone, waiting for a secretary's approval
    RETIRED = "retired"  # replaced by a newer phone
    FOREIGN = "foreign"  # the identifier belongs to another member or is a receiver


@dataclass(frozen=True, slots=True)
class Phone:
    device_id: int
    uid: str
    member_id: int
    state: PhoneState
    created_at: datetime
    bound_at: datetime | None


def _state(device: Device, member_id: int) -> PhoneState:
    if device.kind != PHONE or device.member_id != member_id:
        return PhoneState.FOREIGN
    if device.bound_at is None:
        return PhoneState.PENDING
    return PhoneState.BOUND if device.active else PhoneState.RETIRED


def _phone(device: Device, member_id: int) -> Phone:
    return Phone(
        device.id,
        device.uid,
        member_id,
        _state(device, member_id),
        device.created_at,
        device.bound_at,
    )


def use_phone(session: Session, *, member_id: int, uid: str, now: datetime | None = None) -> Phone:
    """The member's phone of this identifier: bound at first use, else recorded as waiting
    for approval; the caller commits."""
    device = session.scalar(select(Device).where(Device.uid == uid))
    if device is not None:
        return _phone(device, member_id)
    get_member(session, member_id=member_id)
    has_bound = session.scalar(
        select(Device.id).where(
            Device.member_id == member_id,
            Device.kind == PHONE,
            Device.active.is_(True),
            Device.bound_at.is_not(None),
        )
    )
    at = now or utcnow()
    device = Device(
        uid=uid,
        member_id=member_id,
        name="手机 phone",
        kind=PHONE,
        active=has_bound is None,
        bound_at=at if has_bound is None else None,
        created_at=at,
    )
    session.add(device)
    session.flush()
    return _phone(device, member_id)


def approve_phone(session: Session, *, device_id: int, now: datetime | None = None) -> Phone:
    """Bind a waiting phone to its member; their previous phone is retired. The caller commits."""
    device = session.get(Device, device_id)
    if device is None or device.kind != PHONE or device.member_id is None:
        raise NotFoundError("phone", device_id)
    if device.bound_at is not None:
        raise ConflictError(f"phone {device_id} is not waiting for approval")
    session.execute(
        update(Device)
        .where(Device.member_id == device.member_id, Device.kind == PHONE, Device.id != device.id)
        .values(active=False)
    )
    device.active = True
    device.bound_at = now or utcnow()
    session.flush()
    return _phone(device, device.member_id)


def phone_org_path(session: Session, *, device_id: int) -> tuple[Device, str]:
    """A phone and the organisation path of its member (for scope checks)."""
    row = session.execute(
        select(Device, Organisation.path)
        .join(Member, Member.id == Device.member_id)
        .join(Organisation, Organisation.id == Member.org_id)
        .where(Device.id == device_id, Device.kind == PHONE)
    ).first()
    if row is None:
        raise NotFoundError("phone", device_id)
    return row[0], row[1]


def list_phones(
    session: Session,
    *,
    within_org_id: int | None,
    member_id: int | None = None,
    pending_only: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Phone]:
    """Phones of members in a subtree (None: all), waiting ones first when listed together."""
    stmt = select(Device).join(Member, Member.id == Device.member_id).where(Device.kind == PHONE)
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, Member.org_id, within_org_id=within_org_id))
    if member_id is not None:
        stmt = stmt.where(Device.member_id == member_id)
    if pending_only:
        stmt = stmt.where(Device.bound_at.is_(None))
    stmt = stmt.order_by(Device.id.desc())
    return [
        _phone(d, d.member_id or 0) for d in session.scalars(page(stmt, limit=limit, offset=offset))
    ]
