"""Alembic migrations, the same on SpatiaLite and PostGIS, run without an ``alembic.ini``.

``upgrade(engine)`` is what ``partymap db upgrade`` and the embedded default's first use call.
A new revision is drafted from the models with ``new_revision(engine, message)`` against a
database at head, then reviewed by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from geoalchemy2 import alembic_helpers
from sqlalchemy import Connection, Engine

from store.errors import SchemaOutOfDateError
from store.types import UTCDateTime

SCRIPT_LOCATION = Path(__file__).resolve().parent
# GeoAlchemy2's helpers carry no annotations: these are their signatures as partymap uses them.
_geo_include_object: Callable[..., object] = alembic_helpers.include_object
_geo_render_item: Callable[..., str | Literal[False]] = alembic_helpers.render_item


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Compare only partymap's own tables with the models.

    SpatiaLite and PostGIS keep dozens of metadata tables (``spatial_ref_sys``,
    ``geometry_columns``, SpatiaLite's ``idx_*`` R*Trees…) that no migration should touch.
    """
    if type_ == "table" and reflected and compare_to is None:
        return False
    return bool(_geo_include_object(obj, name, type_, reflected, compare_to))


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Draft revisions with plain SQLAlchemy types, so a migration never imports the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    rendered: str | Literal[False] = _geo_render_item(type_, obj, autogen_context)
    return rendered


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration in code; ``env.py`` runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest) in one transaction."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "store/migrations/versions holds no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Refuse a database whose schema is not the one this code was written for."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        url = engine.url.render_as_string(hide_password=True)
        raise SchemaOutOfDateError(
            f"database {url} is at schema revision {current or 'none (empty)'}, this partymap "
            f"needs {head}: run `partymap db upgrade`"
        )


def new_revision(engine: Engine, message: str) -> None:
    """Draft a revision from the difference between the models and the database."""
    with engine.begin() as connection:
        command.revision(alembic_config(connection), message=message, autogenerate=True)
