"""presence: the tracker's state behind each row (leaving_at, evidence gathered so far).

With these a restarted ingestion daemon restores the presence of every member exactly as the
last committed batch left it, instead of starting every visit under way afresh.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("presence") as batch:
        batch.add_column(sa.Column("leaving_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("evidence", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("presence") as batch:
        batch.drop_column("evidence")
        batch.drop_column("leaving_at")
