"""login_counters: login attempts per address and per (username, address), in the database.

Counted before the password is checked and shared by every API process, so parallel guesses
cannot pass the limit.

Revision ID: 0006_login_counters
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_login_counters"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_counters",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("window_start_s", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_login_counters_window_start_s", "login_counters", ["window_start_s"])


def downgrade() -> None:
    op.drop_index("ix_login_counters_window_start_s", table_name="login_counters")
    op.drop_table("login_counters")
