"""Visit and check-in bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from api.schemas.common import Out

EVIDENCE_EXAMPLE = {
    "fix_times": ["2026-05-01T08:00:00+00:00", "2026-05-01T08:02:00+00:00"],
    "quality": 1,
    "hdop": 0.9,
    "accuracy_m": 2.5,
    "sats_used_by_system": {"BEIDOU": 8, "GPS": 4},
    "rule_results": {},
    "fix_count": 25,
    "beidou_verified": True,
}


class VisitOut(Out):
    id: int
    member_id: int
    site_id: int
    start_at: datetime = Field(description="First fix inside the site.")
    end_at: datetime | None = Field(description="First fix outside; null while it goes on.")
    checkin_at: datetime | None = Field(description="Set once presence reached PRESENT.")
    beidou_verified: bool = Field(description="The check-in used at least 4 BeiDou satellites.")
    evidence: dict[str, Any] | None = Field(
        description="The fixes and rule results the check-in rests on; its `kind` is "
        "`terminal` (a JT/T 808 terminal's fixes, BeiDou by its own word) or `phone` when "
        "the fixes were not a receiver's NMEA.",
        examples=[EVIDENCE_EXAMPLE],
    )


class PresenceOut(Out):
    """A member's current state at a site (no row: not there)."""

    member_id: int
    site_id: int
    state: str = Field(description="arriving, present or leaving.", examples=["present"])
    since: datetime = Field(description="First fix inside, of this stay.")
    checkin_at: datetime | None
