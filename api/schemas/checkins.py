"""Bodies of members' phone check-ins, meeting codes and phone bindings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from api.schemas.common import In, Number, Out
from geo.model import EvidenceKind
from store.phones import PhoneState

PhoneUid = Annotated[
    str,
    StringConstraints(min_length=8, max_length=64, pattern=r"^phone:[A-Za-z0-9-]{1,58}$"),
    Field(
        description="The identifier the member page keeps for this phone.",
        examples=["phone:6f1c2a9e-51d2-4c55-9a8e-0b1f4e3a7d10"],
    ),
]
Finite = Annotated[Number, Field(allow_inf_nan=False)]


class PhoneIn(In):
    phone_id: PhoneUid


class PhoneOut(Out):
    device_id: int
    member_id: int
    member_name: str | None = None
    state: PhoneState = Field(
        description="bound: check-ins are taken; pending: a secretary must approve this phone; "
        "retired: replaced by a newer phone; foreign: not this member's."
    )
    created_at: datetime
    bound_at: datetime | None


class PhoneFixIn(In):
    """One position from the browser's Geolocation API."""

    time: AwareDatetime = Field(description="When the browser measured it (its own clock).")
    lat: Annotated[Finite, Field(ge=-90, le=90)]
    lon: Annotated[Finite, Field(ge=-180, le=180)]
    accuracy_m: Annotated[Finite, Field(ge=0, le=100_000, description="One-sigma, metres.")]
    speed_mps: Annotated[Finite, Field(ge=0, le=10_000)] | None = None
    course_deg: Annotated[Finite, Field(ge=0, le=360)] | None = None
    alt_m: Annotated[Finite, Field(ge=-1000, le=100_000)] | None = None


class PhoneCheckinIn(In):
    phone_id: PhoneUid
    fixes: list[PhoneFixIn] = Field(min_length=1, max_length=30)


class QrCheckinIn(In):
    phone_id: PhoneUid
    step: Annotated[int, Field(ge=0, le=2**40, description="The time step the code was shown in.")]
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z2-7]{16}$")]


class CheckinOut(Out):
    id: int
    meeting_id: int
    member_id: int
    site_id: int
    evidence: EvidenceKind = Field(description="phone (手机定位) or qr (扫码签到).")
    at: datetime = Field(description="When the member checked in (UTC).")
    received_at: datetime
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    near_fix: dict[str, object] | None = Field(
        default=None,
        description="With a code: the member's last good fix near the site, when there is one.",
    )


class QrOut(Out):
    meeting_id: int
    url: str = Field(description="What the QR code says: the member page checking in.")
    step: int
    expires_at: datetime = Field(description="The code is refused from this time (UTC).")
    refresh_s: float = Field(description="Seconds until the screen should show the next code.")
    svg: str = Field(description="The QR code as an SVG image.")
