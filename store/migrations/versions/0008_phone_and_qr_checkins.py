"""Phones and meeting codes: members check in from their phones.

``devices.kind`` tells receivers from phones; a phone's ``bound_at`` is set when it is bound
to its member (at first use, or by a secretary's approval of a second phone). ``sites.
evidence_policy`` says which check-ins count there (None: the default of the site's kind).
``meeting_checkins`` holds the check-ins made at a meeting with a phone's position or the
meeting's rotating code, one per member and meeting; ``qr_keys`` the deployment's keys for
those codes (the newest one signs; a first one is made here).

Revision ID: 0008_phone_and_qr_checkins
Revises: 0007_meeting_rollup
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_phone_and_qr_checkins"
down_revision = "0007_meeting_rollup"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="receiver")
        )
        batch.add_column(sa.Column("bound_at", sa.DateTime(timezone=True), nullable=True))
    # A plain ADD COLUMN: a batch copy of ``sites`` would have to rebuild its geometry.
    op.add_column("sites", sa.Column("evidence_policy", sa.String(16), nullable=True))
    op.create_table(
        "meeting_checkins",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "meeting_id",
            sa.Integer(),
            sa.ForeignKey(
                "meetings.id", ondelete="CASCADE", name="fk_meeting_checkins_meeting_id_meetings"
            ),
            nullable=False,
        ),
        sa.Column(
            "member_id",
            sa.Integer(),
            sa.ForeignKey("members.id", name="fk_meeting_checkins_member_id_members"),
            nullable=False,
        ),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("evidence", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("detail", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_meeting_checkins"),
        sa.UniqueConstraint(
            "meeting_id", "member_id", name="uq_meeting_checkins_meeting_id_member_id"
        ),
    )
    op.create_index("ix_meeting_checkins_member_id", "meeting_checkins", ["member_id"])
    op.create_table(
        "qr_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("secret", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_qr_keys"),
    )
    # The deployment's first key, made here so that showing a code never has to write.
    keys = sa.table(
        "qr_keys",
        sa.column("secret", sa.LargeBinary()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(keys, [{"secret": secrets.token_bytes(32), "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("qr_keys")
    op.drop_index("ix_meeting_checkins_member_id", table_name="meeting_checkins")
    op.drop_table("meeting_checkins")
    op.drop_column("sites", "evidence_policy")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("bound_at")
        batch.drop_column("kind")
