"""meetings from plan to record: plans, leave, corrections, summaries, alerts, display tokens.

Meetings gain a time zone, a topic, host and recorder, a status (cancelling keeps them), the
plan that generated them, when their attendance was recorded and a summary of it; a meeting
may have no site (attendance by hand). Attendance keeps the automatic ``outcome`` beside the
``status`` that counts, with the evidence and the correction behind it. Existing meetings take
their site's time zone; those with stored attendance count as recorded when it was computed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
MEETING_KINDS = (
    "BRANCH_GENERAL_MEETING",
    "BRANCH_COMMITTEE_MEETING",
    "GROUP_MEETING",
    "PARTY_LECTURE",
    "THEMED_PARTY_DAY",
)
OUTCOMES = ("present", "late", "left_early", "absent", "excused", "pending")
DUE = "recorded_at IS NULL AND status = 'scheduled'"


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str, length: int = 32) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=length)


def _fk(table: str, column: str, target: str, **kw: Any) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), **kw
    )


def _keep_attendance() -> bool:
    """On SQLite, altering ``meetings`` copies it and drops the old table, whose implicit
    delete cascades to ``attendance``: keep a copy to put back (PostgreSQL alters in place)."""
    if op.get_bind().dialect.name != "sqlite":
        return False
    op.execute("CREATE TEMP TABLE keep_attendance AS SELECT * FROM attendance")
    return True


def _restore_attendance(kept: bool) -> None:
    if kept:
        op.execute("DELETE FROM attendance")
        op.execute("INSERT INTO attendance SELECT * FROM keep_attendance")


def upgrade() -> None:
    kept = _keep_attendance()
    op.create_table(
        "meeting_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("kind", _enum("meetingkind", *MEETING_KINDS), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=2000), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column(
            "frequency",
            _enum("frequency", "weekly", "monthly", "quarterly", length=16),
            nullable=False,
        ),
        sa.Column("weekday", sa.SmallInteger(), nullable=True),
        sa.Column("nth", sa.SmallInteger(), nullable=True),
        sa.Column("day_of_month", sa.SmallInteger(), nullable=True),
        sa.Column("month_of_quarter", sa.SmallInteger(), nullable=True),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("duration_min", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("host_member_id", sa.Integer(), nullable=True),
        sa.Column("recorder_member_id", sa.Integer(), nullable=True),
        sa.Column("early_s", sa.Float(), nullable=False),
        sa.Column("late_grace_s", sa.Float(), nullable=False),
        sa.Column("left_early_margin_s", sa.Float(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("generated_through", sa.Date(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _fk("meeting_plans", "org_id", "organisations"),
        _fk("meeting_plans", "site_id", "sites"),
        _fk("meeting_plans", "host_member_id", "members"),
        _fk("meeting_plans", "recorder_member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_plans")),
    )
    op.create_index("ix_meeting_plans_org_id", "meeting_plans", ["org_id"])

    with op.batch_alter_table("meetings") as batch:
        batch.alter_column("site_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("topic", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("tz", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("host_member_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("recorder_member_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "status", _enum("meetingstatus", "scheduled", "cancelled", length=16), nullable=True
            )
        )
        batch.add_column(_time("cancelled_at", nullable=True))
        batch.add_column(sa.Column("cancelled_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("plan_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("occurrence", sa.Date(), nullable=True))
        batch.add_column(sa.Column("plan_detached", sa.Boolean(), nullable=True))
        batch.add_column(_time("recorded_at", nullable=True))
        for name in ("expected_n", "present_n", "late_n", "left_early_n", "absent_n", "excused_n"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch.add_column(_time("updated_at", nullable=True))
        batch.create_foreign_key(
            op.f("fk_meetings_host_member_id_members"), "members", ["host_member_id"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_meetings_recorder_member_id_members"),
            "members",
            ["recorder_member_id"],
            ["id"],
        )
        batch.create_foreign_key(
            op.f("fk_meetings_plan_id_meeting_plans"), "meeting_plans", ["plan_id"], ["id"]
        )
        batch.create_unique_constraint(
            op.f("uq_meetings_plan_id_occurrence"), ["plan_id", "occurrence"]
        )
    counts = {
        name: f"(SELECT count(*) FROM attendance a WHERE a.meeting_id = meetings.id{cond})"
        for name, cond in (
            ("expected_n", ""),
            ("present_n", " AND a.outcome = 'present'"),
            ("late_n", " AND a.outcome = 'late'"),
            ("left_early_n", " AND a.outcome = 'left_early'"),
            ("absent_n", " AND a.outcome = 'absent'"),
            ("excused_n", " AND a.outcome = 'excused'"),
        )
    }
    _restore_attendance(kept)
    recorded = "EXISTS (SELECT 1 FROM attendance a WHERE a.meeting_id = meetings.id)"
    op.execute(
        "UPDATE meetings SET "
        "tz = COALESCE((SELECT s.tz FROM sites s WHERE s.id = meetings.site_id), 'UTC'), "
        "topic = '', status = 'scheduled', plan_detached = false, updated_at = created_at, "
        "recorded_at = (SELECT max(a.computed_at) FROM attendance a "
        "WHERE a.meeting_id = meetings.id), "
        + ", ".join(f"{name} = CASE WHEN {recorded} THEN {q} END" for name, q in counts.items())
    )
    with op.batch_alter_table("meetings") as batch:
        for name in ("topic", "tz", "status", "plan_detached", "updated_at"):
            batch.alter_column(name, nullable=False)
    _restore_attendance(kept)
    if kept:
        op.execute("DROP TABLE keep_attendance")
    op.create_index("ix_meetings_start_at", "meetings", ["start_at"])
    op.create_index(
        "ix_meetings_due",
        "meetings",
        ["end_at"],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )

    op.create_table(
        "attendance_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("old_status", _enum("attendanceoutcome", *OUTCOMES), nullable=False),
        sa.Column("new_status", _enum("attendanceoutcome", *OUTCOMES), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        _time("at"),
        _fk("attendance_corrections", "meeting_id", "meetings", ondelete="CASCADE"),
        _fk("attendance_corrections", "member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_corrections")),
    )
    op.create_index(
        "ix_attendance_corrections_meeting_id_member_id",
        "attendance_corrections",
        ["meeting_id", "member_id"],
    )

    with op.batch_alter_table("attendance") as batch:
        batch.add_column(sa.Column("status", _enum("attendanceoutcome", *OUTCOMES), nullable=True))
        batch.add_column(
            sa.Column(
                "evidence",
                _enum(
                    "evidencekind", "beidou", "gnss", "terminal", "phone", "qr", "manual", length=16
                ),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("correction_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_attendance_correction_id_attendance_corrections"),
            "attendance_corrections",
            ["correction_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute("UPDATE attendance SET status = outcome")
    with op.batch_alter_table("attendance") as batch:
        batch.alter_column("status", nullable=False)
    op.create_index("ix_attendance_member_id", "attendance", ["member_id"])

    op.create_table(
        "meeting_leave",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            _enum("leavestatus", "requested", "approved", "refused", "withdrawn", length=16),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=False),
        _time("requested_at"),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=True),
        _time("decided_at", nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        _fk("meeting_leave", "meeting_id", "meetings", ondelete="CASCADE"),
        _fk("meeting_leave", "member_id", "members"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_leave")),
        sa.UniqueConstraint(
            "meeting_id", "member_id", name=op.f("uq_meeting_leave_meeting_id_member_id")
        ),
    )
    op.create_index("ix_meeting_leave_member_id", "meeting_leave", ["member_id"])

    op.create_table(
        "absence_runs",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("absent_run", sa.Integer(), nullable=False),
        sa.Column("last_meeting_id", sa.Integer(), nullable=True),
        _time("updated_at"),
        _fk("absence_runs", "member_id", "members", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_absence_runs")),
    )
    op.create_index("ix_absence_runs_absent_run", "absence_runs", ["absent_run"])

    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        _time("raised_at"),
        sa.Column("detail", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_alerts_key")),
    )
    op.create_index("ix_alerts_raised_at", "alerts", ["raised_at"])

    op.create_table(
        "display_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        _time("revoked_at", nullable=True),
        _time("last_used_at", nullable=True),
        _fk("display_tokens", "org_id", "organisations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_display_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_display_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("display_tokens")
    op.drop_table("alerts")
    op.drop_table("absence_runs")
    op.drop_table("meeting_leave")
    op.drop_index("ix_attendance_member_id", table_name="attendance")
    with op.batch_alter_table("attendance") as batch:
        batch.drop_constraint(
            op.f("fk_attendance_correction_id_attendance_corrections"), type_="foreignkey"
        )
        batch.drop_column("correction_id")
        batch.drop_column("evidence")
        batch.drop_column("status")
    op.drop_table("attendance_corrections")
    op.drop_index("ix_meetings_due", table_name="meetings")
    op.drop_index("ix_meetings_start_at", table_name="meetings")
    # Meetings without a site cannot be kept by the older schema.
    op.execute(
        "DELETE FROM attendance WHERE meeting_id IN (SELECT id FROM meetings WHERE site_id IS NULL)"
    )
    op.execute("DELETE FROM meetings WHERE site_id IS NULL")
    kept = _keep_attendance()
    with op.batch_alter_table("meetings") as batch:
        batch.drop_constraint(op.f("uq_meetings_plan_id_occurrence"), type_="unique")
        batch.drop_constraint(op.f("fk_meetings_plan_id_meeting_plans"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_meetings_recorder_member_id_members"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_meetings_host_member_id_members"), type_="foreignkey")
        for name in (
            "updated_at", "excused_n", "absent_n", "left_early_n", "late_n", "present_n",
            "expected_n", "recorded_at", "plan_detached", "occurrence", "plan_id",
            "cancel_reason", "cancelled_by", "cancelled_at", "status", "recorder_member_id",
            "host_member_id", "tz", "topic",
        ):  # fmt: skip
            batch.drop_column(name)
        batch.alter_column("site_id", existing_type=sa.Integer(), nullable=False)
    _restore_attendance(kept)
    if kept:
        op.execute("DROP TABLE keep_attendance")
    op.drop_table("meeting_plans")
