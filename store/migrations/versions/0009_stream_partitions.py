"""stream_partitions: ownership and stored position of each partition of the raw stream.

Used only when partymap runs on several machines (``partymap serve --role worker``): a worker
commits a partition's stream sequence with the rows it covers, under the generation it took the
partition over with.

Revision ID: 0009_stream_partitions
Revises: 0008_phone_and_qr_checkins
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_stream_partitions"
down_revision = "0008_phone_and_qr_checkins"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "stream_partitions",
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("resume", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stream_partitions")
