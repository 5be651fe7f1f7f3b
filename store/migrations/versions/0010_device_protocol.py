"""devices: the protocol a device speaks (NMEA or JT/T 808), a terminal's clock zone and
default accuracy, and whether its over-the-air registration is open; alarms: SOS raised by
terminals.

Revision ID: 0010_device_protocol
Revises: 0009_stream_partitions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_device_protocol"
down_revision = "0009_stream_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(
            sa.Column("protocol", sa.String(16), nullable=False, server_default="nmea")
        )
        batch.add_column(sa.Column("utc_offset_min", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("accuracy_m", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column("registration_open", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    op.create_table(
        "alarms",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("fix_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("device_id", "kind", "fix_time"),
    )
    for column in ("member_id", "org_id", "raised_at"):
        op.create_index(f"ix_alarms_{column}", "alarms", [column])


def downgrade() -> None:
    for column in ("member_id", "org_id", "raised_at"):
        op.drop_index(f"ix_alarms_{column}", table_name="alarms")
    op.drop_table("alarms")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("registration_open")
        batch.drop_column("accuracy_m")
        batch.drop_column("utc_offset_min")
        batch.drop_column("protocol")
