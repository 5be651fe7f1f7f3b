"""Alembic environment: runs on the connection handed over by :mod:`store.migrations`."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers

from store.migrations import include_object, render_item
from store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through store.migrations (it passes the connection)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    render_item=render_item,
    process_revision_directives=alembic_helpers.writer,
    # SQLite alters tables by copying them: later revisions use batch operations there.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
