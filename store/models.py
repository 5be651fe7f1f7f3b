"""The tables: one set of SQLAlchemy 2 + GeoAlchemy2 models for SpatiaLite and PostGIS.

Geometry is WGS 84 (``srid=4326``) everywhere. Positions are an append-only log written in
batches (see :mod:`store.positions`); they carry plain ``lat``/``lon`` next to the point so that
tracks and the map read floats instead of decoding geometry. The organisation tree is kept as a
materialised path (``/1/5/23/``): a subtree is one index range scan (see :mod:`store.orgs`).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geo.meetings.recurrence import Frequency
from geo.model import AttendanceOutcome, EvidenceKind, MeetingKind, SiteKind
from store.types import UTCDateTime, enum_type, geometry, json_type, path_type, utcnow

# SQLite only makes INTEGER PRIMARY KEY an auto-incrementing rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class OrgKind(enum.Enum):
    """Kinds of party organisation (DESIGN §8)."""

    PARTY_COMMITTEE = "party_committee"  # 党委
    GENERAL_BRANCH = "general_branch"  # 党总支
    BRANCH = "branch"  # 党支部
    PARTY_GROUP = "party_group"  # 党小组


class Role(enum.Enum):
    """What a user may see: themselves, their organisation's subtree, or the whole tree."""

    MEMBER = "member"
    BRANCH_ADMIN = "branch_admin"  # branch secretary or admin: their organisation's subtree
    COMMITTEE_ADMIN = "committee_admin"  # the whole tree below their organisation (or all)


class MeetingStatus(enum.Enum):
    """A meeting's stored status: cancelling keeps the meeting and its history (取消)."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class LeaveStatus(enum.Enum):
    """A leave (请假): asked for by the member, or recorded (approved) by a secretary."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class Base(DeclarativeBase):
    # Named constraints: migrations can then refer to them identically on both databases.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: json_type(),
    }


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    # "/<root id>/…/<own id>/": ancestors are its prefixes, the subtree its extensions.
    path: Mapped[str] = mapped_column(path_type(1000), unique=True)
    depth: Mapped[int] = mapped_column(SmallInteger)  # 0 for a root
    kind: Mapped[OrgKind] = mapped_column(enum_type(OrgKind))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(64), unique=True)  # external code, imports
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str | None] = mapped_column(String(64), unique=True)  # member/staff number
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The identifier the device sends (REG line, MQTT topic, HTTP path): IMEI, serial…
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    # sha256 of a 256-bit random token: a fast hash is enough for a high-entropy secret.
    token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    token_issued_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    quality: Mapped[dict[str, Any] | None]  # QualityThresholds overrides for this device
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "receiver" (NMEA, JT/T 808) or "phone" (a member's browser, see store.phones).
    kind: Mapped[str] = mapped_column(String(16), default="receiver", server_default="receiver")
    # A phone: when it was bound to its member (None: a second phone awaiting approval).
    bound_at: Mapped[datetime | None]
    # What it speaks: "nmea" (lines, by any NMEA source) or "jt808" (a JT/T 808 terminal,
    # whose uid is its phone number).
    protocol: Mapped[str] = mapped_column(String(16), default="nmea", server_default="nmea")
    # A terminal's clock zone, minutes east of UTC (None: the protocol's, GMT+8 for JT/T 808).
    utc_offset_min: Mapped[int | None] = mapped_column(SmallInteger)
    # Accuracy given to its positions when they carry none (None: the protocol's default).
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    # A JT/T 808 terminal may register over the air (once): true after an admin rotated its
    # token; registering closes it again.
    registration_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SiteRow(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SiteKind] = mapped_column(enum_type(SiteKind))
    # Polygon or multipolygon; a circle is its centre Point plus radius_m.
    geom: Mapped[Any] = mapped_column(geometry("GEOMETRY", spatial_index=True))
    radius_m: Mapped[float | None] = mapped_column(Float)
    # The footprint's bounds (a circle's include its radius): bbox queries compare these
    # floats the same way on both databases, circles included.
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    tz: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]  # SiteParams
    quality: Mapped[dict[str, Any]]  # QualityThresholds
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on every change
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]  # kept for the visits and meetings that name it
    # Which check-ins count here: beidou, beidou_or_qr, any (None: the default of its kind).
    evidence_policy: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (Index("ix_sites_bounds", "min_lat", "max_lat"),)


class Counter(Base):
    """Named monotonic counters; ``site_set`` versions the whole set of sites."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


# Measurement columns of a fix (names as in gnss.model.Fix).
class _Measurement:
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    alt_m: Mapped[float | None] = mapped_column(Float)
    mode: Mapped[int] = mapped_column(SmallInteger)  # gnss FixMode
    quality: Mapped[int] = mapped_column(SmallInteger)  # gnss FixQuality (GGA 0–8)
    hdop: Mapped[float | None] = mapped_column(Float)
    pdop: Mapped[float | None] = mapped_column(Float)
    sats_used: Mapped[int | None] = mapped_column(SmallInteger)
    sats_gps: Mapped[int | None] = mapped_column(SmallInteger)
    sats_glonass: Mapped[int | None] = mapped_column(SmallInteger)
    sats_galileo: Mapped[int | None] = mapped_column(SmallInteger)
    sats_beidou: Mapped[int | None] = mapped_column(SmallInteger)
    sats_qzss: Mapped[int | None] = mapped_column(SmallInteger)
    sats_navic: Mapped[int | None] = mapped_column(SmallInteger)
    sats_sbas: Mapped[int | None] = mapped_column(SmallInteger)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    course_deg: Mapped[float | None] = mapped_column(Float)


class Position(_Measurement, Base):
    """One epoch of one device, accepted or rejected (``rejections`` names every failed rule).

    No foreign keys: this is the hot append-only log, and its device and member ids come from
    the device directory the ingestion pipeline loads (:func:`store.devices.device_directory`);
    a per-row foreign key check would cost every COPY row a lookup in two other tables.
    """

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime]
    fix_time: Mapped[datetime]
    geom: Mapped[Any | None] = mapped_column(geometry("POINT", spatial_index=False))
    source: Mapped[str] = mapped_column(String(64))
    rejections: Mapped[str | None] = mapped_column(Text)  # "no_fix,too_few_sats"; None: accepted

    __table_args__ = (
        Index("ix_positions_member_id_fix_time", "member_id", "fix_time"),
        # By device only for fixes that reached no member (unassigned devices): a full device
        # index costs COPY a third of its speed, and an assigned device's fixes are found
        # through its member.
        Index(
            "ix_positions_device_id_fix_time",
            "device_id",
            "fix_time",
            postgresql_where=text("member_id IS NULL"),
            sqlite_where=text("member_id IS NULL"),
        ),
        # Retention purges by receipt time, which follows insertion order: BRIN on PostgreSQL
        # costs almost nothing to maintain during COPY (SQLite ignores the option: b-tree).
        Index("ix_positions_received_at", "received_at", postgresql_using="brin"),
    )


class LatestPosition(Base):
    """The newest accepted fix with a position per member, refreshed by every written batch.

    ``org_id`` is the member's organisation, copied here (and kept in step by transfers) so the
    map's subtree filter and whole-tree read touch this table alone.
    """

    __tablename__ = "latest_positions"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    org_id: Mapped[int] = mapped_column(Integer, index=True)
    device_id: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime]
    fix_time: Mapped[datetime]
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    alt_m: Mapped[float | None] = mapped_column(Float)
    mode: Mapped[int] = mapped_column(SmallInteger)
    quality: Mapped[int] = mapped_column(SmallInteger)
    hdop: Mapped[float | None] = mapped_column(Float)
    sats_used: Mapped[int | None] = mapped_column(SmallInteger)
    sats_beidou: Mapped[int | None] = mapped_column(SmallInteger)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    course_deg: Mapped[float | None] = mapped_column(Float)

    # Every batch rewrites many rows: free space on each page lets PostgreSQL update them in
    # place (HOT) without touching the index.
    __table_args__ = ({"postgresql_with": {"fillfactor": 70}},)


class VisitRow(Base):
    """A stay of a member at a site; a check-in is a visit that reached PRESENT."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    start_at: Mapped[datetime]  # first inside fix
    end_at: Mapped[datetime | None]  # first outside fix; None while the visit goes on
    checkin_at: Mapped[datetime | None]  # set when PRESENT was reached
    beidou_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    evidence: Mapped[dict[str, Any] | None]  # geo.model.Evidence.to_json()

    __table_args__ = (
        # One row per (member, site, start): presence events replayed after a crash update it.
        UniqueConstraint("member_id", "site_id", "start_at"),
        Index("ix_visits_site_id_start_at", "site_id", "start_at"),
        Index("ix_visits_member_id_start_at", "member_id", "start_at"),
    )


class PresenceStateRow(Base):
    """Where a member's presence at a site stands now (ARRIVING, PRESENT or LEAVING).

    Written by the ingestion pipeline with every batch that changes it; a pair back to OUTSIDE
    has no row. The map reads it to colour members; the pipeline's own state lives in memory.
    """

    __tablename__ = "presence"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime]  # the first inside fix of the stay
    checkin_at: Mapped[datetime | None]  # set once PRESENT was reached
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The rest of the tracker's state, so that a restarted daemon carries on where it stopped:
    # the first outside fix while LEAVING, and the check-in evidence gathered so far.
    leaving_at: Mapped[datetime | None]
    evidence: Mapped[dict[str, Any] | None]

    __table_args__ = (
        CheckConstraint("state IN ('arriving', 'present', 'leaving')", name="state"),
        Index("ix_presence_site_id", "site_id"),
    )


class MeetingRow(Base):
    """A meeting (三会一课, 主题党日): planned, held, recorded or cancelled.

    Times are UTC; ``tz`` is the zone they were given in and are shown in (the site's, or the
    reporting zone for a meeting without a site). The ``*_n`` columns summarise the recorded
    attendance (None until recorded) so that statistics over a year of meetings read this
    table alone.
    """

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))  # None: by hand
    kind: Mapped[MeetingKind] = mapped_column(enum_type(MeetingKind))
    title: Mapped[str] = mapped_column(String(200), default="")
    topic: Mapped[str] = mapped_column(String(2000), default="")  # 议题
    tz: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    early_s: Mapped[float] = mapped_column(Float)
    late_grace_s: Mapped[float] = mapped_column(Float)
    left_early_margin_s: Mapped[float] = mapped_column(Float)
    host_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))  # 主持人
    recorder_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))  # 记录人
    status: Mapped[MeetingStatus] = mapped_column(
        enum_type(MeetingStatus, 16), default=MeetingStatus.SCHEDULED
    )
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(100))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # The plan that generated it and the local date of that occurrence; ``plan_detached``
    # once edited by hand, so that a changed plan leaves it as it is.
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("meeting_plans.id"))
    occurrence: Mapped[date | None] = mapped_column(Date)
    plan_detached: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime | None]
    expected_n: Mapped[int | None] = mapped_column(Integer)  # 应到
    present_n: Mapped[int | None] = mapped_column(Integer)
    late_n: Mapped[int | None] = mapped_column(Integer)
    left_early_n: Mapped[int | None] = mapped_column(Integer)
    absent_n: Mapped[int | None] = mapped_column(Integer)
    excused_n: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_meetings_org_id_start_at", "org_id", "start_at"),
        Index("ix_meetings_start_at", "start_at"),
        UniqueConstraint("plan_id", "occurrence"),
        # What the recording task looks for: scheduled meetings not yet recorded, by end.
        Index(
            "ix_meetings_due",
            "end_at",
            postgresql_where=text("recorded_at IS NULL AND status = 'scheduled'"),
            sqlite_where=text("recorded_at IS NULL AND status = 'scheduled'"),
        ),
    )


class MeetingRollupRow(Base):
    """The meetings of one organisation, of one kind, starting in one month of the reporting
    zone (``month``: year × 12 + month − 1), counted and with their attendance summed: what
    the statistics read for whole months that are over instead of every meeting. Kept by
    :mod:`store.rollup` whenever a meeting or its record changes; cancelled meetings are left
    out."""

    __tablename__ = "meeting_rollup"

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    kind: Mapped[MeetingKind] = mapped_column(enum_type(MeetingKind), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)  # meetings not cancelled
    recorded: Mapped[int] = mapped_column(Integer)
    expected: Mapped[int] = mapped_column(Integer)
    present: Mapped[int] = mapped_column(Integer)
    late: Mapped[int] = mapped_column(Integer)
    left_early: Mapped[int] = mapped_column(Integer)
    absent: Mapped[int] = mapped_column(Integer)
    excused: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_meeting_rollup_month", "month"),)


class MeetingRollupZone(Base):
    """The zone whose months :class:`MeetingRollupRow` counts in (one row; none: not built)."""

    __tablename__ = "meeting_rollup_zone"

    tz: Mapped[str] = mapped_column(String(64), primary_key=True)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeetingPlanRow(Base):
    """A recurring meeting ("支委会, monthly, first Tuesday 15:00") that schedules meetings
    ahead (:mod:`geo.meetings.recurrence` says when)."""

    __tablename__ = "meeting_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[MeetingKind] = mapped_column(enum_type(MeetingKind))
    title: Mapped[str] = mapped_column(String(200), default="")
    topic: Mapped[str] = mapped_column(String(2000), default="")
    tz: Mapped[str] = mapped_column(String(64))
    frequency: Mapped[Frequency] = mapped_column(enum_type(Frequency, 16))
    weekday: Mapped[int | None] = mapped_column(SmallInteger)  # 0 Monday … 6 Sunday
    nth: Mapped[int | None] = mapped_column(SmallInteger)  # 1–4, or -1 for the last
    day_of_month: Mapped[int | None] = mapped_column(SmallInteger)  # 1–31
    month_of_quarter: Mapped[int | None] = mapped_column(SmallInteger)  # 1–3
    start_time: Mapped[str] = mapped_column(String(5))  # "HH:MM", local
    duration_min: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)
    host_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    recorder_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    early_s: Mapped[float] = mapped_column(Float)
    late_grace_s: Mapped[float] = mapped_column(Float)
    left_early_margin_s: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    generated_through: Mapped[date | None] = mapped_column(Date)  # local date
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttendanceRow(Base):
    """A member's recorded attendance at a meeting.

    ``outcome`` is the automatic decision (visits, then approved leave) and is never changed
    by a correction; ``status`` is what counts: the latest correction (``correction_id``)
    if any, else the outcome. ``evidence`` is that of the automatic decision's check-in.
    """

    __tablename__ = "attendance"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    outcome: Mapped[AttendanceOutcome] = mapped_column(enum_type(AttendanceOutcome))
    status: Mapped[AttendanceOutcome] = mapped_column(enum_type(AttendanceOutcome))
    evidence: Mapped[EvidenceKind | None] = mapped_column(enum_type(EvidenceKind, 16))
    correction_id: Mapped[int | None] = mapped_column(
        ForeignKey("attendance_corrections.id", ondelete="SET NULL")
    )
    first_checkin_at: Mapped[datetime | None]
    last_leave_at: Mapped[datetime | None]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_attendance_member_id", "member_id"),)


class AttendanceCorrectionRow(Base):
    """A secretary's correction (补签) of one member's status: who, when, why, old → new.

    Kept beside the automatic decision, never replacing it; the evidence of a corrected
    status is ``manual``.
    """

    __tablename__ = "attendance_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    old_status: Mapped[AttendanceOutcome] = mapped_column(enum_type(AttendanceOutcome))
    new_status: Mapped[AttendanceOutcome] = mapped_column(enum_type(AttendanceOutcome))
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_attendance_corrections_meeting_id_member_id", "meeting_id", "member_id"),
    )


class LeaveRow(Base):
    """A member's leave (请假) from one meeting: one row per member and meeting."""

    __tablename__ = "meeting_leave"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[LeaveStatus] = mapped_column(enum_type(LeaveStatus, 16))
    reason: Mapped[str] = mapped_column(String(500))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_user_id: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_by_user_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)


class MeetingCheckinRow(Base):
    """A check-in at a meeting from a member's phone: its position (``phone``) or the
    meeting's rotating code (``qr``). One per member and meeting; ``at`` is when the member
    checked in (a check-in queued offline keeps its own time)."""

    __tablename__ = "meeting_checkins"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    site_id: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[int | None] = mapped_column(Integer)
    evidence: Mapped[EvidenceKind] = mapped_column(enum_type(EvidenceKind, 16))
    at: Mapped[datetime]
    received_at: Mapped[datetime]
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any] | None]

    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)


class QrKeyRow(Base):
    """A key for meetings' rotating codes; the newest signs and verifies (rotating one in
    voids every code shown before)."""

    __tablename__ = "qr_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AbsenceRunRow(Base):
    """How many of a member's latest recorded meetings in a row they were absent from."""

    __tablename__ = "absence_runs"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    absent_run: Mapped[int] = mapped_column(Integer)
    last_meeting_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_absence_runs_absent_run", "absent_run"),)


class AlertRow(Base):
    """An alert raised once (``key`` is unique): every server process tails this table and
    publishes new rows on its own live feed."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # overdue, absent_streak, low_attendance
    key: Mapped[str] = mapped_column(String(200), unique=True)
    org_id: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer)
    meeting_id: Mapped[int | None] = mapped_column(Integer)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    detail: Mapped[dict[str, Any] | None]


class AlarmRow(Base):
    """An alarm a device raised (a JT/T 808 terminal's SOS button), once per device, kind and
    fix time: a report sent again does not raise it twice."""

    __tablename__ = "alarms"
    __table_args__ = (UniqueConstraint("device_id", "kind", "fix_time"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "sos"
    device_id: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer, index=True)
    org_id: Mapped[int | None] = mapped_column(Integer, index=True)
    fix_time: Mapped[datetime]
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DisplayTokenRow(Base):
    """A read-only token for an activity centre's big screen (大屏), bound to a subtree."""

    __tablename__ = "display_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))  # None: all
    # sha256 of a 256-bit random token, as for devices.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string
    role: Mapped[Role] = mapped_column(enum_type(Role))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))  # scope root
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))  # role member
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class LoginCounter(Base):
    """Login attempts counted in a fixed window per key (a hash of an address, or of a
    username and an address), shared by every API process using the database."""

    __tablename__ = "login_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start_s: Mapped[float] = mapped_column(Float, index=True)  # Unix seconds
    attempts: Mapped[int] = mapped_column(Integer)


class AuditEntry(Base):
    """Who did what to whose data, when. Actors are kept by name so entries outlive users."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # username, "device:<uid>", "system"
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(64))  # "read_track", "read_positions", …
    subject_member_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[dict[str, Any] | None]


class ReplayOffset(Base):
    """How far a source's stream is stored; committed with the positions it covers."""

    __tablename__ = "replay_offsets"

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StreamPartition(Base):
    """One partition of the JetStream raw stream (several machines): who owns it, and how far
    it is stored. ``generation`` grows at every takeover, and a worker's commits name the one
    it took over with, so a worker that lost its lease cannot store anything more (fencing).
    ``seq`` is the newest stream sequence whose data is stored; ``resume`` maps each device to
    the position (``seq << 24 | byte``) of its first byte not stored yet (an epoch still open)."""

    __tablename__ = "stream_partitions"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    owner: Mapped[str | None] = mapped_column(String(255))
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    resume: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
