"""``partymap demo``: the demo organisation, its recorded logs replayed live, the map served."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

Language = Literal["zh-CN", "en"]
Tiles = Literal["osm", "tianditu", "amap", "none"]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("demo")(demo)


def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the demo keeps its database and logs (default: <data_dir>/demo)."),
    ] = None,
    host: Annotated[str, typer.Option(help="HTTP address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.", min=0, max=65535)] = 8000,
    tiles: Annotated[
        Tiles, typer.Option(help="Base layer shown first; none works offline.")
    ] = "none",
    language: Annotated[Language | None, typer.Option("--lang", help="Labels.")] = None,
) -> None:
    """Seed the demo organisation in a fresh embedded database, replay its recorded logs
    through the ingestion pipeline (check-ins and a meeting's attendance unfold over a few
    minutes) and serve the dashboard. Nothing outside DATA_DIR is touched; Ctrl-C stops."""
    import logging
    from datetime import UTC, datetime

    from gnss.sources.loop import run as run_loop
    from partymap.demo.run import demo_settings, prepare, run
    from partymap.settings import Settings
    from store.errors import StoreError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    base = Settings()
    work = data_dir if data_dir is not None else base.data_dir / "demo"
    changes: dict[str, object] = {"host": host, "port": port, "tiles": tiles}
    if language is not None:
        changes["language"] = language
    settings = demo_settings(base, work.expanduser().resolve(), **changes)
    try:
        prepared = prepare(settings, now=datetime.now(UTC))
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        run_loop(run(prepared, say=typer.echo))
    finally:
        prepared.engine.dispose()
    typer.echo("demo stopped")
