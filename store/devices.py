"""Field devices and receivers: who carries them, and the tokens they authenticate with.

A device token is 256 random bits shown once when issued; only its SHA-256 is stored and it
is compared in constant time. (A slow password hash buys nothing for a secret that cannot be
guessed, and ingest checks must stay cheap.) Issuing a new token rotates it: the old one stops
working at once.

A device speaks a ``protocol``: ``nmea`` (lines, by any NMEA source) or ``jt808`` (a JT/T 808
terminal, whose uid is its phone number as printed: 12 digits for 2011/2013 terminals, 20 for
2019 ones). A terminal's token is its authentication code. It is issued out of band
(``partymap import devices --issue-tokens``) or over the air, once, by its registration
(:func:`register_terminal`); an admin rotating the token reopens that registration.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from store.errors import DuplicateKeyError, InvalidValueError, NotFoundError
from store.members import get_member
from store.models import Device, Member
from store.orgs import org_scope
from store.query import matching, page
from store.types import utcnow

# Compared against when a device is unknown or has no token, so a wrong uid and a wrong token
# take the same time.
_NO_TOKEN = hashlib.sha256(b"partymap: no device token").digest()

NMEA, JT808 = "nmea", "jt808"
PROTOCOLS = (NMEA, JT808)
JT808_PHONE_DIGITS = (12, 20)  # BCD[6] of 2011/2013 headers, BCD[10] of 2019 ones


def check_protocol(protocol: str, uid: str) -> None:
    """Refuse an unknown protocol, or a JT/T 808 uid that is not a terminal phone number."""
    if protocol not in PROTOCOLS:
        raise InvalidValueError(f"protocol must be one of {', '.join(PROTOCOLS)}")
    if protocol == JT808 and not (uid.isascii() and uid.isdigit()):
        raise InvalidValueError("a JT/T 808 device's uid is its terminal phone number (digits)")
    if protocol == JT808 and len(uid) not in JT808_PHONE_DIGITS:
        raise InvalidValueError("a JT/T 808 phone number has 12 digits (2013) or 20 (2019)")


def check_terminal_settings(utc_offset_min: int | None, accuracy_m: float | None) -> None:
    if utc_offset_min is not None and not -720 <= utc_offset_min <= 840:
        raise InvalidValueError("utc_offset_min must be between -720 and 840")
    if accuracy_m is not None and not 0 < accuracy_m <= 10_000:
        raise InvalidValueError("accuracy_m must be above 0 and at most 10000")


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """What the ingestion pipeline needs to know of a device for every fix it stores."""

    id: int
    uid: str
    member_id: int | None
    active: bool


def create_device(
    session: Session,
    *,
    uid: str,
    member_id: int | None = None,
    name: str | None = None,
    protocol: str = NMEA,
    utc_offset_min: int | None = None,
    accuracy_m: float | None = None,
) -> Device:
    check_protocol(protocol, uid)
    check_terminal_settings(utc_offset_min, accuracy_m)
    if find_device(session, uid=uid) is not None:
        raise DuplicateKeyError("device", "uid", uid)
    if member_id is not None:
        get_member(session, member_id=member_id)
    device = Device(
        uid=uid,
        member_id=member_id,
        name=name,
        active=True,
        protocol=protocol,
        utc_offset_min=utc_offset_min,
        accuracy_m=accuracy_m,
        registration_open=False,
    )
    session.add(device)
    session.flush()
    return device


def get_device(session: Session, *, device_id: int) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFoundError("device", device_id)
    return device


def find_device(session: Session, *, uid: str) -> Device | None:
    return session.scalars(select(Device).where(Device.uid == uid)).one_or_none()


def list_devices(
    session: Session,
    *,
    within_org_id: int | None = None,
    member_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Device]:
    """Devices ordered by id; ``within_org_id`` keeps those carried by the subtree's members."""
    stmt = select(Device).where(*matching((Device.member_id, member_id))).order_by(Device.id)
    if within_org_id is not None:
        members = select(Member.id).where(
            org_scope(session, Member.org_id, within_org_id=within_org_id)
        )
        stmt = stmt.where(Device.member_id.in_(members))
    return list(session.scalars(page(stmt, limit=limit, offset=offset)))


def assign_device(session: Session, *, device_id: int, member_id: int | None) -> Device:
    """Hand a device to a member (None: unassigned). Fixes already stored keep their member."""
    device = get_device(session, device_id=device_id)
    if member_id is not None:
        get_member(session, member_id=member_id)
    device.member_id = member_id
    session.flush()
    return device


def set_device_active(session: Session, *, device_id: int, active: bool) -> Device:
    """A deactivated device is refused at registration even with a valid token."""
    device = get_device(session, device_id=device_id)
    device.active = active
    session.flush()
    return device


def configure_device(
    session: Session,
    *,
    device_id: int,
    protocol: str | None = None,
    utc_offset_min: int | None = None,
    accuracy_m: float | None = None,
) -> Device:
    """Set what the device speaks (None: unchanged) and a terminal's clock zone and default
    accuracy (None: the protocol's)."""
    device = get_device(session, device_id=device_id)
    check_protocol(protocol or device.protocol, device.uid)
    check_terminal_settings(utc_offset_min, accuracy_m)
    if protocol is not None:
        device.protocol = protocol
    device.utc_offset_min = utc_offset_min
    device.accuracy_m = accuracy_m
    session.flush()
    return device


def issue_device_token(
    session: Session, *, device_id: int, now: datetime | None = None, reopen: bool = False
) -> str:
    """A new token for the device, returned once; any previous token stops working.
    ``reopen`` (an admin's rotation): a JT/T 808 terminal may then register over the air
    again, once."""
    device = get_device(session, device_id=device_id)
    token = secrets.token_urlsafe(32)
    device.token_hash = _digest(token)
    device.token_issued_at = now or utcnow()
    device.registration_open = reopen and device.protocol == JT808
    session.flush()
    return token


def register_terminal(
    session: Session, *, device_id: int, now: datetime | None = None
) -> str | None:
    """A JT/T 808 terminal's registration over the air: a fresh authentication code, returned
    once, if the terminal may register (it has no code yet, or an admin reopened it) — else
    None. One conditional update, so two connections racing cannot both be granted."""
    token = secrets.token_urlsafe(32)
    granted = session.execute(
        update(Device)
        .where(
            Device.id == device_id,
            Device.protocol == JT808,
            Device.active,
            or_(Device.token_hash.is_(None), Device.registration_open),
        )
        .values(token_hash=_digest(token), token_issued_at=now or utcnow(), registration_open=False)
        .execution_options(synchronize_session=False)
    )
    return token if granted.rowcount == 1 else None  # type: ignore[attr-defined]


def verify_device_token(session: Session, *, uid: str, token: str) -> DeviceRef | None:
    """The device if ``token`` is its current token and it is active, else None."""
    device = find_device(session, uid=uid)
    stored = device.token_hash if device is not None and device.token_hash else _NO_TOKEN
    matches = hmac.compare_digest(_digest(token), stored)
    if device is None or not matches or not device.token_hash or not device.active:
        return None
    return _ref(device)


def device_directory(session: Session) -> dict[str, DeviceRef]:
    """Every device by uid: the pipeline's map from a source's device id to stored ids."""
    rows = session.execute(select(Device.id, Device.uid, Device.member_id, Device.active))
    return {
        r.uid: DeviceRef(id=r.id, uid=r.uid, member_id=r.member_id, active=r.active) for r in rows
    }


def _ref(device: Device) -> DeviceRef:
    return DeviceRef(id=device.id, uid=device.uid, member_id=device.member_id, active=device.active)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
