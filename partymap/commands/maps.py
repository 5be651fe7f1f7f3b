"""``partymap map --out FILE.html``: the dashboard as one file that opens without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from partymap.commands.common import UrlOption, require_database, settings_for

Language = Literal["zh-CN", "en"]
Tiles = Literal["osm", "tianditu", "amap", "none"]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("map")(export_map)


def export_map(
    out: Annotated[Path, typer.Option("--out", help="Where to write the HTML file.")],
    org: Annotated[
        int | None, typer.Option(help="Only this organisation's subtree (default: all).")
    ] = None,
    language: Annotated[
        Language | None, typer.Option("--lang", help="Labels (default: from settings).")
    ] = None,
    tiles: Annotated[
        Tiles | None, typer.Option(help="Base layer shown first (default: from settings).")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Export the electronic map with today's positions, tracks, check-ins and meetings.

    The file embeds everything (Leaflet included) and is written to the audit log as an
    export of every member it shows.
    """
    import getpass
    from datetime import UTC, datetime, timedelta

    from maps.export import export_html
    from maps.snapshot import Scope
    from store.db import make_sessionmaker, open_engine
    from store.orgs import get_organisation

    settings = settings_for(url)
    require_database(settings)
    engine = open_engine(settings.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as session:
            scope = Scope()
            if org is not None:
                scope = Scope(org_id=org, org_path=get_organisation(session, org_id=org).path)
            key = settings.tianditu_key.get_secret_value() if settings.tianditu_key else None
            html = export_html(
                session,
                scope=scope,
                actor=f"cli:{getpass.getuser()}",
                now=datetime.now(UTC),
                stale_after=timedelta(seconds=settings.map_stale_after_seconds),
                language=language or settings.language,
                tiles=tiles or settings.tiles,
                tianditu_key=key,
            )
            out.write_text(html, encoding="utf-8")
            session.commit()
    finally:
        engine.dispose()
    typer.echo(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
