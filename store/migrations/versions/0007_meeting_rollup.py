"""meeting_rollup: meetings and their attendance per (organisation, kind, month).

The statistics of a whole tree for a year read these few narrow rows for the months that are
over instead of every meeting. Built in the reporting zone by ``store.rollup.rebuild`` (the
meeting task does it when it starts), then kept as meetings change.

Revision ID: 0007_meeting_rollup
Revises: 0006_login_counters
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_meeting_rollup"
down_revision = "0006_login_counters"
branch_labels = None
depends_on = None

MEETING_KINDS = (
    "BRANCH_GENERAL_MEETING",
    "BRANCH_COMMITTEE_MEETING",
    "GROUP_MEETING",
    "PARTY_LECTURE",
    "THEMED_PARTY_DAY",
)


def upgrade() -> None:
    op.create_table(
        "meeting_rollup",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*MEETING_KINDS, name="meetingkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("month", sa.Integer(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "n",
                "recorded",
                "expected",
                "present",
                "late",
                "left_early",
                "absent",
                "excused",
            )
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_meeting_rollup_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "kind", "month", name=op.f("pk_meeting_rollup")),
    )
    op.create_index("ix_meeting_rollup_month", "meeting_rollup", ["month"])
    op.create_table(
        "meeting_rollup_zone",
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tz", name=op.f("pk_meeting_rollup_zone")),
    )


def downgrade() -> None:
    op.drop_table("meeting_rollup_zone")
    op.drop_index("ix_meeting_rollup_month", table_name="meeting_rollup")
    op.drop_table("meeting_rollup")
