"""Initial schema: organisations, sites, members, devices, positions, visits, meetings,
attendance, users, audit log, replay offsets.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# GeoAlchemy2's alembic helpers register the geospatial operations on ``op`` when imported
# (store.migrations does so); they are not in alembic's own type stubs.
geo_op: Any = op

# Frozen copies of store.types: a migration must not change when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
PATH = sa.String(length=1000).with_variant(sa.String(length=1000, collation="C"), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def _geometry(geometry_type: str, *, nullable: bool) -> Geometry:
    # Spatial indexes are created explicitly below (create_geospatial_index).
    return Geometry(geometry_type=geometry_type, srid=4326, spatial_index=False, nullable=nullable)


def _measurement() -> list[sa.Column[Any]]:
    return [
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("alt_m", sa.Float(), nullable=True),
        sa.Column("mode", sa.SmallInteger(), nullable=False),
        sa.Column("quality", sa.SmallInteger(), nullable=False),
        sa.Column("hdop", sa.Float(), nullable=True),
        sa.Column("pdop", sa.Float(), nullable=True),
        sa.Column("sats_used", sa.SmallInteger(), nullable=True),
        *(
            sa.Column(f"sats_{system}", sa.SmallInteger(), nullable=True)
            for system in ("gps", "glonass", "galileo", "beidou", "qzss", "navic", "sbas")
        ),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("course_deg", sa.Float(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", PATH, nullable=False),
        sa.Column("depth", sa.SmallInteger(), nullable=False),
        sa.Column(
            "kind",
            _enum("orgkind", "party_committee", "general_branch", "branch", "party_group"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        _time("created_at"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["organisations.id"],
            name=op.f("fk_organisations_parent_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("code", name=op.f("uq_organisations_code")),
        sa.UniqueConstraint("path", name=op.f("uq_organisations_path")),
    )
    op.create_index(op.f("ix_organisations_parent_id"), "organisations", ["parent_id"])

    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_members_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("code", name=op.f("uq_members_code")),
    )
    op.create_index(op.f("ix_members_org_id"), "members", ["org_id"])

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=True),
        _time("token_issued_at", nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("quality", JSON, nullable=True),
        _time("created_at"),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_devices_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("uid", name=op.f("uq_devices_uid")),
    )
    op.create_index(op.f("ix_devices_member_id"), "devices", ["member_id"])

    geo_op.create_geospatial_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            _enum("sitekind", "office", "meeting_room", "project_worksite", "camp"),
            nullable=False,
        ),
        sa.Column("geom", _geometry("GEOMETRY", nullable=False), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=True),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("quality", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _time("deleted_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_sites_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    geo_op.create_geospatial_index(
        "idx_sites_geom", "sites", ["geom"], postgresql_using="gist", postgresql_ops={}
    )
    op.create_index("ix_sites_bounds", "sites", ["min_lat", "max_lat"])
    op.create_index(op.f("ix_sites_org_id"), "sites", ["org_id"])

    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    counters = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.Integer))
    op.bulk_insert(counters, [{"name": "site_set", "value": 0}])

    geo_op.create_geospatial_table(
        "positions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        _time("received_at"),
        _time("fix_time"),
        sa.Column("geom", _geometry("POINT", nullable=True), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("rejections", sa.Text(), nullable=True),
        *_measurement(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
    )
    op.create_index("ix_positions_member_id_fix_time", "positions", ["member_id", "fix_time"])
    op.create_index(
        "ix_positions_device_id_fix_time",
        "positions",
        ["device_id", "fix_time"],
        postgresql_where=sa.text("member_id IS NULL"),
        sqlite_where=sa.text("member_id IS NULL"),
    )
    op.create_index(
        "ix_positions_received_at", "positions", ["received_at"], postgresql_using="brin"
    )

    op.create_table(
        "latest_positions",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        _time("received_at"),
        _time("fix_time"),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("alt_m", sa.Float(), nullable=True),
        sa.Column("mode", sa.SmallInteger(), nullable=False),
        sa.Column("quality", sa.SmallInteger(), nullable=False),
        sa.Column("hdop", sa.Float(), nullable=True),
        sa.Column("sats_used", sa.SmallInteger(), nullable=True),
        sa.Column("sats_beidou", sa.SmallInteger(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("course_deg", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_latest_positions_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_latest_positions")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_index(op.f("ix_latest_positions_org_id"), "latest_positions", ["org_id"])

    op.create_table(
        "visits",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        _time("start_at"),
        _time("end_at", nullable=True),
        _time("checkin_at", nullable=True),
        sa.Column("beidou_verified", sa.Boolean(), nullable=False),
        sa.Column("evidence", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_visits_member_id_members")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_visits_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
        sa.UniqueConstraint(
            "member_id", "site_id", "start_at", name=op.f("uq_visits_member_id_site_id_start_at")
        ),
    )
    op.create_index("ix_visits_member_id_start_at", "visits", ["member_id", "start_at"])
    op.create_index("ix_visits_site_id_start_at", "visits", ["site_id", "start_at"])

    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "meetingkind",
                "BRANCH_GENERAL_MEETING",
                "BRANCH_COMMITTEE_MEETING",
                "GROUP_MEETING",
                "PARTY_LECTURE",
                "THEMED_PARTY_DAY",
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        _time("start_at"),
        _time("end_at"),
        sa.Column("early_s", sa.Float(), nullable=False),
        sa.Column("late_grace_s", sa.Float(), nullable=False),
        sa.Column("left_early_margin_s", sa.Float(), nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_meetings_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_meetings_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    op.create_index("ix_meetings_org_id_start_at", "meetings", ["org_id", "start_at"])

    op.create_table(
        "attendance",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            _enum("attendanceoutcome", "present", "late", "left_early", "absent"),
            nullable=False,
        ),
        _time("first_checkin_at", nullable=True),
        _time("last_leave_at", nullable=True),
        _time("computed_at"),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_attendance_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_attendance_member_id_members")
        ),
        sa.PrimaryKeyConstraint("meeting_id", "member_id", name=op.f("pk_attendance")),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role", _enum("role", "member", "branch_admin", "committee_admin"), nullable=False
        ),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("last_login_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_users_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_users_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, nullable=False),
        _time("at"),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_member_id", sa.Integer(), nullable=True),
        sa.Column("detail", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_actor_user_id"), "audit_log", ["actor_user_id"])
    op.create_index(op.f("ix_audit_log_subject_member_id"), "audit_log", ["subject_member_id"])

    op.create_table(
        "replay_offsets",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_replay_offsets")),
    )


def downgrade() -> None:
    # Indexes go with their tables; spatial tables are dropped through the geospatial
    # operation so SpatiaLite's metadata and R*Tree go too.
    for table in ("replay_offsets", "audit_log", "users", "attendance", "meetings", "visits"):
        op.drop_table(table)
    op.drop_table("latest_positions")
    geo_op.drop_geospatial_table("positions")
    op.drop_table("counters")
    geo_op.drop_geospatial_index(
        "idx_sites_geom", table_name="sites", postgresql_using="gist", column_name="geom"
    )
    geo_op.drop_geospatial_table("sites")
    for table in ("devices", "members", "organisations"):
        op.drop_table(table)
