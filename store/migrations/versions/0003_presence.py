"""presence: where each member's presence at each site stands, for the map.

One row per (member, site) that is ARRIVING, PRESENT or LEAVING; a pair back to OUTSIDE has no
row. Written by the ingestion pipeline in the transaction of the batch that changed it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "presence",
        sa.Column("member_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("site_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checkin_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('arriving', 'present', 'leaving')", name=op.f("ck_presence_state")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_presence_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_presence_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", "site_id", name=op.f("pk_presence")),
    )
    op.create_index("ix_presence_site_id", "presence", ["site_id"])


def downgrade() -> None:
    op.drop_table("presence")
