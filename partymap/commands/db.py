"""``partymap db …``: database schema management and the retention purge."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from partymap.commands.common import UrlOption, require_database, settings_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(help="Database schema management.", no_args_is_help=True)


@app.command()
def upgrade(
    url: UrlOption = None,
    revision: Annotated[str, typer.Option(help="Target schema revision.")] = "head",
) -> None:
    """Create or migrate the database schema (run this before serving with PostgreSQL)."""
    from store import migrations

    with _database(url) as engine:
        before = migrations.current_revision(engine)
        migrations.upgrade(engine, revision)
        after = migrations.current_revision(engine)
        shown = engine.url.render_as_string(hide_password=True)
    typer.echo(f"{shown}: schema {before or 'empty'} -> {after}")


@app.command()
def current(url: UrlOption = None) -> None:
    """Show the database's schema revision and the newest this partymap knows."""
    from store import migrations

    with _database(url, must_exist=True) as engine:
        revision = migrations.current_revision(engine)
    typer.echo(f"current: {revision or 'empty'}\nhead: {migrations.head_revision()}")


@app.command()
def purge(
    url: UrlOption = None,
    days: Annotated[
        int | None,
        typer.Option(min=0, help="Keep this many days (default: PARTYMAP_RETENTION_DAYS)."),
    ] = None,
) -> None:
    """Delete positions received longer ago than the retention period (0 keeps everything)."""
    from datetime import UTC, datetime

    from store.db import make_sessionmaker
    from store.positions import purge_positions, retention_cutoff

    keep = days if days is not None else settings_for(url).retention_days
    cutoff = retention_cutoff(now=datetime.now(UTC), retention_days=keep)
    if cutoff is None:
        typer.echo("retention is 0 days: positions are kept forever, nothing purged")
        return
    with _database(url, must_exist=True) as engine, make_sessionmaker(engine)() as session:
        removed = purge_positions(session, received_before=cutoff)
        session.commit()
    typer.echo(f"purged {removed} positions received before {cutoff.isoformat()}")


@app.command("rotate-qr-key")
def rotate_qr_key(url: UrlOption = None) -> None:
    """Put a new key in force for meetings' rotating check-in codes: every code shown until
    now stops working (the secretaries' screens show valid ones at their next refresh)."""
    from store.db import make_sessionmaker
    from store.qr import rotate_key

    with _database(url, must_exist=True) as engine, make_sessionmaker(engine)() as session:
        rotate_key(session)
        session.commit()
    typer.echo("a new meeting code key is in force; codes shown before it are refused")


@contextlib.contextmanager
def _database(url: str | None, *, must_exist: bool = False) -> Iterator[Engine]:
    """The engine for ``url`` (or the settings'); with ``must_exist`` an embedded database
    file that is not there is refused rather than created."""
    from store.db import make_engine

    settings = settings_for(url)
    if must_exist:
        require_database(settings)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        yield engine
    finally:
        engine.dispose()
