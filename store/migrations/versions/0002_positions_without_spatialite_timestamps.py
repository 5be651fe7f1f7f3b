"""positions: no per-row SpatiaLite change timestamps.

SpatiaLite keeps, for every spatial table, the time of its last insert, update and delete in
``geometry_columns_time``, through triggers that run an UPDATE for every row written. On the
positions log that bookkeeping costs a quarter of the insert rate and nothing reads it. The
geometry type and SRID check (trigger ``ggi_positions_geom``) stays. PostgreSQL has no such
triggers: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TIMESTAMP_TRIGGERS = {
    "tmi_positions_geom": "AFTER INSERT",
    "tmu_positions_geom": "AFTER UPDATE",
    "tmd_positions_geom": "AFTER DELETE",
}
_COLUMN = {
    "AFTER INSERT": "last_insert",
    "AFTER UPDATE": "last_update",
    "AFTER DELETE": "last_delete",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in _TIMESTAMP_TRIGGERS:
        op.execute(f'DROP TRIGGER IF EXISTS "{name}"')


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # As SpatiaLite 5 creates them.
    for name, event in _TIMESTAMP_TRIGGERS.items():
        op.execute(
            f'CREATE TRIGGER "{name}" {event} ON "positions" FOR EACH ROW BEGIN '
            f"UPDATE geometry_columns_time SET {_COLUMN[event]} = "
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
            "WHERE Lower(f_table_name) = Lower('positions') "
            "AND Lower(f_geometry_column) = Lower('geom'); END"
        )
