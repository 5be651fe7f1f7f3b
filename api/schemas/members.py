"""Member and device bodies."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

from pydantic import Field, Strict

from api.schemas.common import Code, Flag, Id, In, Name, Out, Phone


class MemberOut(Out):
    id: int
    org_id: int
    name: str = Field(examples=["王芳"])
    code: str | None = Field(description="Member or staff number.", examples=["DY-20231"])
    phone: str | None
    active: bool
    created_at: datetime


class MemberIn(In):
    org_id: Id
    name: Name = Field(examples=["王芳"])
    code: Code | None = None
    phone: Phone | None = None


class MemberPatch(In):
    name: Name | None = None
    code: Code | None = None
    phone: Phone | None = None
    active: Flag | None = None


class Transfer(In):
    """组织关系转接: the organisation the member moves to."""

    org_id: Id = Field(examples=[23])


DeviceUidField = Field(
    min_length=1,
    max_length=64,
    pattern=r"^[A-Za-z0-9._:-]+$",
    description="What the device sends: IMEI, serial number…",
    examples=["868120301234567"],
)


class Protocol(enum.Enum):
    """What a device speaks: NMEA lines (any NMEA source) or JT/T 808 (a BeiDou terminal on
    the JT/T 808 server, its uid being its terminal phone number: 12 or 20 digits)."""

    NMEA = "nmea"
    JT808 = "jt808"


UtcOffset = Annotated[int, Strict(), Field(ge=-720, le=840)]
Accuracy = Annotated[float, Field(gt=0, le=10_000)]


class DeviceOut(Out):
    id: int
    uid: str
    member_id: int | None
    name: str | None
    active: bool
    token_issued_at: datetime | None = Field(description="When its current token was issued.")
    created_at: datetime
    protocol: Protocol
    utc_offset_min: int | None = Field(
        description="A JT/T 808 terminal's clock zone, minutes east of UTC (null: GMT+8)."
    )
    accuracy_m: float | None = Field(
        description="Accuracy given to its positions, which carry none (null: 10 m)."
    )
    registration_open: bool = Field(
        description="A JT/T 808 terminal may register over the air (once): until it does, "
        "after an admin rotated its token."
    )


class DeviceIn(In):
    uid: str = DeviceUidField
    member_id: Id | None = None
    name: Name | None = None
    protocol: Protocol = Protocol.NMEA
    utc_offset_min: UtcOffset | None = Field(
        default=None, description="A terminal sending UTC: 0 (null: GMT+8, the standard's)."
    )
    accuracy_m: Accuracy | None = None


class DevicePatch(In):
    member_id: Id | None = Field(
        default=None, description="Hand the device to this member; null unassigns it."
    )
    active: Flag | None = Field(default=None, description="A deactivated device is refused.")


class DeviceToken(Out):
    device_id: int
    uid: str
    token: str = Field(description="Shown once: only its hash is kept.")
    issued_at: datetime
