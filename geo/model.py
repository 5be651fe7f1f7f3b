"""Values the geo engine exchanges with the rest of partymap: sites, visits, check-ins, meetings.

Geometry is WGS 84 in lon/lat order (shapely), times are timezone-aware UTC; each site carries
its IANA time zone for meeting times and display.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from shapely.geometry.base import BaseGeometry

from gnss.model import Constellation, FixQuality


class SiteKind(enum.Enum):
    OFFICE = "office"  # branch office, activity centre
    MEETING_ROOM = "meeting_room"
    PROJECT_WORKSITE = "project_worksite"  # 项目部 / 工地
    CAMP = "camp"


@dataclass(frozen=True, slots=True)
class SiteParams:
    """Per-site presence parameters (DESIGN §4 defaults)."""

    dwell_s: float = 120.0
    exit_after_s: float = 60.0
    max_gap_s: float = 300.0
    hysteresis_m: float = 20.0
    accuracy_k: float = 2.0
    accuracy_cap_m: float = 50.0


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    """Quality-rule thresholds; configurable per site and per device."""

    min_sats: int = 4
    max_hdop: float = 5.0
    max_speed_mps: float = 70.0
    max_future_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Site:
    """A branch site or worksite: polygon, multipolygon, or a circle (Point + ``radius_m``)."""

    id: int
    org_id: int
    name: str
    geometry: BaseGeometry
    radius_m: float | None = None
    kind: SiteKind = SiteKind.OFFICE
    tz: str = "Asia/Shanghai"
    params: SiteParams = field(default_factory=SiteParams)
    quality: QualityThresholds = field(default_factory=QualityThresholds)


class PresenceState(enum.Enum):
    OUTSIDE = "outside"
    ARRIVING = "arriving"
    PRESENT = "present"
    LEAVING = "leaving"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a check-in rests on: the fixes that made it and what the rules said of them."""

    fix_times: tuple[datetime, ...] = ()
    quality: FixQuality = FixQuality.INVALID
    hdop: float | None = None
    accuracy_m: float | None = None
    sats_used_by_system: Mapping[Constellation, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    rule_results: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    # How many accepted inside fixes made the check-in (``fix_times`` holds the first and last).
    fix_count: int = 0
    # What source made the fixes when it was not a receiver's NMEA (a JT/T 808 terminal: its
    # BeiDou count is its own claim; a phone); None: a receiver, ``beidou`` or ``gnss``.
    kind: EvidenceKind | None = None

    @property
    def beidou_verified(self) -> bool:
        return self.sats_used_by_system.get(Constellation.BEIDOU, 0) >= 4

    def to_json(self) -> dict[str, Any]:
        return {
            "fix_times": [t.isoformat() for t in self.fix_times],
            "quality": int(self.quality),
            "hdop": self.hdop,
            "accuracy_m": self.accuracy_m,
            "sats_used_by_system": {c.value: n for c, n in self.sats_used_by_system.items()},
            "rule_results": dict(self.rule_results),
            "fix_count": self.fix_count,
            "beidou_verified": self.beidou_verified,
            **({"kind": self.kind.value} if self.kind is not None else {}),
        }


@dataclass(frozen=True, slots=True)
class CheckIn:
    """Emitted when a member's presence at a site reaches PRESENT; timed at the first inside fix."""

    member_id: int
    site_id: int
    time: datetime
    evidence: Evidence = field(default_factory=Evidence)

    @property
    def beidou_verified(self) -> bool:
        return self.evidence.beidou_verified


@dataclass(frozen=True, slots=True)
class VisitEnded:
    """Emitted when a visit ends: ``end`` is the first outside fix (or last sign of life)."""

    member_id: int
    site_id: int
    start: datetime
    end: datetime
    checked_in: bool


@dataclass(frozen=True, slots=True)
class Visit:
    """A stay at a site, from the first inside fix to the first outside fix (None: ongoing)."""

    member_id: int
    site_id: int
    start: datetime
    end: datetime | None = None
    checkin_at: datetime | None = None
    beidou_verified: bool = False  # the check-in used ≥ 4 BeiDou satellites throughout
    # What the check-in rests on when it was not a receiver's (a JT/T 808 terminal's fixes, a
    # phone's position, a meeting's code); None: receiver fixes, ``beidou`` or ``gnss`` by
    # ``beidou_verified``.
    evidence: EvidenceKind | None = None

    @property
    def evidence_kind(self) -> EvidenceKind:
        """What the visit's check-in rests on, receivers' fixes included."""
        if self.evidence is not None:
            return self.evidence
        return EvidenceKind.BEIDOU if self.beidou_verified else EvidenceKind.GNSS


class MeetingKind(enum.Enum):
    """三会一课 and 主题党日."""

    BRANCH_GENERAL_MEETING = "BRANCH_GENERAL_MEETING"  # 支部党员大会
    BRANCH_COMMITTEE_MEETING = "BRANCH_COMMITTEE_MEETING"  # 支委会
    GROUP_MEETING = "GROUP_MEETING"  # 党小组会
    PARTY_LECTURE = "PARTY_LECTURE"  # 党课
    THEMED_PARTY_DAY = "THEMED_PARTY_DAY"  # 主题党日


@dataclass(frozen=True, slots=True)
class Meeting:
    """When and where a meeting is held; ``site_id`` None: attendance is entered by hand."""

    id: int
    org_id: int
    site_id: int | None
    kind: MeetingKind
    start: datetime
    end: datetime
    title: str = ""
    early: timedelta = timedelta(minutes=30)
    late_grace: timedelta = timedelta(minutes=5)
    left_early_margin: timedelta = timedelta(minutes=10)


class AttendanceOutcome(enum.Enum):
    """The one attendance vocabulary (DESIGN §11) of the API, the files and the screen.

    Visits decide the first four; ``excused`` (请假) comes from approved leave or a correction;
    ``pending`` (未到) is a member not yet arrived while the meeting goes on, never stored.
    """

    PRESENT = "present"  # 按时出席
    LATE = "late"  # 迟到
    LEFT_EARLY = "left_early"  # 早退
    ABSENT = "absent"  # 缺席
    EXCUSED = "excused"  # 请假
    PENDING = "pending"  # 未到


class EvidenceKind(enum.Enum):
    """What a member's attendance rests on (DESIGN §11)."""

    BEIDOU = "beidou"  # receiver fixes, BeiDou-verified (≥ 4 BeiDou satellites)
    GNSS = "gnss"  # receiver fixes, not BeiDou-verified
    TERMINAL = "terminal"  # a JT/T 808 terminal's own BeiDou flag and satellite count
    PHONE = "phone"  # browser geolocation
    QR = "qr"  # the meeting's rotating code
    MANUAL = "manual"  # a secretary's correction (补签), never BeiDou-verified


@dataclass(frozen=True, slots=True)
class Attendance:
    meeting_id: int
    member_id: int
    outcome: AttendanceOutcome
    first_checkin: datetime | None = None
    last_leave: datetime | None = None
    evidence: EvidenceKind | None = None  # of the first counted check-in; None when absent


class EvidencePolicy(enum.Enum):
    """Which check-ins count at a site (DESIGN §11): satellite receivers only, receivers or
    the meeting's code (the default for meeting rooms, where a phone's position is no proof),
    or a phone's position too.

    A JT/T 808 terminal is a satellite receiver the member carries: its position is computed
    on the device from the satellites, bound to it by its registration, and cannot be typed
    into a browser or forwarded like a code. So every policy counts its check-ins, as a
    receiver's — labelled ``terminal``, not ``beidou``, because whether it used BeiDou is the
    terminal's own word rather than per-constellation counts an assessment can check.

    >>> EvidencePolicy.BEIDOU_OR_QR.admits(EvidenceKind.QR)
    True
    >>> EvidencePolicy.BEIDOU_OR_QR.admits(EvidenceKind.PHONE)
    False
    >>> [EvidencePolicy.BEIDOU.admits(k) for k in (EvidenceKind.TERMINAL, EvidenceKind.PHONE)]
    [True, False]
    """

    BEIDOU = "beidou"
    BEIDOU_OR_QR = "beidou_or_qr"
    ANY = "any"

    def admits(self, evidence: EvidenceKind) -> bool:
        if evidence is EvidenceKind.PHONE:
            return self is EvidencePolicy.ANY
        if evidence is EvidenceKind.QR:
            return self is not EvidencePolicy.BEIDOU
        return True

    @classmethod
    def default_for(cls, kind: SiteKind) -> EvidencePolicy:
        return cls.BEIDOU_OR_QR if kind is SiteKind.MEETING_ROOM else cls.BEIDOU
