"""``partymap serve`` (API, dashboard and ingestion daemon) and ``partymap replay LOG``.

Sources come from the settings (``PARTYMAP_INGEST_*``) and these options, which add to them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from partymap.commands.common import BadInputError, UrlOption, settings_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from partymap.settings import Settings


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("serve")(serve)
    app.command("replay")(replay)


def serve(
    *,
    host: Annotated[str | None, typer.Option(help="HTTP address (default: PARTYMAP_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default: PARTYMAP_PORT).", min=0, max=65535)
    ] = None,
    tcp_port: Annotated[
        int | None,
        typer.Option(
            help="TCP port for field devices (default: PARTYMAP_INGEST_TCP_PORT; 0: any).",
            min=0,
            max=65535,
        ),
    ] = None,
    no_tcp: Annotated[bool, typer.Option("--no-tcp", help="No TCP server for devices.")] = False,
    jt808_port: Annotated[
        int | None,
        typer.Option(
            help="JT/T 808 port for BeiDou terminals (default: PARTYMAP_INGEST_JT808_PORT, "
            "none; 0: any).",
            min=0,
            max=65535,
        ),
    ] = None,
    mqtt: Annotated[
        str | None, typer.Option(help="MQTT broker HOST[:PORT] to subscribe to.")
    ] = None,
    serial: Annotated[
        list[str] | None, typer.Option(help="Serial receiver PATH=DEVICE_ID[@BAUD] (repeat).")
    ] = None,
    gpsd: Annotated[
        list[str] | None,
        typer.Option(help="gpsd HOST[:PORT]=DEVICE_ID[@RECEIVER] to read (repeat)."),
    ] = None,
    replay: Annotated[
        list[str] | None, typer.Option(help="Recorded log FILE=DEVICE_ID to replay (repeat).")
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            help="Replay logs paced by their time tags × SPEED (default: at once).", min=0
        ),
    ] = None,
    no_http: Annotated[
        bool, typer.Option("--no-http", help="Run the ingestion daemon alone, without the API.")
    ] = False,
    role: Annotated[
        str,
        typer.Option(
            help="all: one process (default); edge, worker or api: one role of several "
            "machines on NATS JetStream (PARTYMAP_NATS_URL; docs/deploy.md).",
        ),
    ] = "all",
    url: UrlOption = None,
) -> None:
    """Serve the API and the map, and ingest NMEA from every configured source."""
    from partymap.ingest.run import serve as run_serve
    from partymap.ingest.sources import SourcePlan, SourceSpecError

    _logging()
    if role not in ("all", "edge", "worker", "api"):
        raise typer.BadParameter(f"--role must be all, edge, worker or api (not {role!r})")
    settings = settings_for(url)
    if role != "all" and not settings.nats_url:
        raise BadInputError(f"--role {role} needs PARTYMAP_NATS_URL (nats:// servers)")
    if host is not None or port is not None:
        settings = settings.model_copy(
            update={"host": host or settings.host, "port": settings.port if port is None else port}
        )
    try:
        plan = SourcePlan.from_settings(
            settings,
            tcp_port=False if no_tcp else (True if tcp_port is None else tcp_port),
            jt808_port=jt808_port,
            mqtt=mqtt,
            serial=serial or (),
            gpsd=gpsd or (),
            replay=replay or (),
            speed=speed,
            http=not no_http,
        )
    except SourceSpecError as exc:
        raise typer.BadParameter(str(exc)) from exc
    from gnss.sources.loop import run as run_loop

    engine = _engine(settings)
    try:
        if role == "all":
            daemon = run_loop(run_serve(settings, engine, plan, http=not no_http))
        else:
            from partymap.cluster.run import serve_role

            daemon = run_loop(serve_role(settings, engine, plan, role))  # type: ignore[arg-type]
    finally:
        engine.dispose()
    if daemon.failure is not None:
        raise typer.Exit(1)


def replay(
    *,
    log: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="NMEA log.")
    ],
    device: Annotated[str, typer.Option(help="The device the log was recorded from (its uid).")],
    speed: Annotated[
        float | None,
        typer.Option(
            help="Pace by the log's time tags × SPEED (default: as fast as possible).", min=0
        ),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Feed LOG through the ingestion pipeline as DEVICE, from where the last run stopped."""
    from gnss.sources.loop import run as run_loop
    from partymap.ingest.run import replay as run_replay
    from partymap.ingest.sources import ReplaySpec
    from store.db import make_sessionmaker
    from store.devices import find_device

    _logging()
    settings = settings_for(url)
    engine = _engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            known = find_device(session, uid=device)
        if known is None or not known.active:
            raise BadInputError(f"device {device!r} is not registered, or inactive")
        spec = ReplaySpec(log, device, speed or None)
        report = run_loop(run_replay(settings, engine, spec))
    finally:
        engine.dispose()
    stats = report.stats
    rejected = sum(stats.lines_rejected.values())
    checkins = stats.events["checkin"]
    typer.echo(
        f"{log}: bytes {report.started_at}–{report.stored_to} of {report.size} stored; "
        f"{stats.lines} lines ({rejected} rejected), {stats.fixes} fixes "
        f"({stats.fixes_accepted} accepted), {stats.positions_stored} positions stored, "
        f"{checkins} check-ins"
        + ("; interrupted, run again to resume" if report.interrupted else "")
    )


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _engine(settings: Settings) -> Engine:
    """The configured database; a store error ends the command with its message."""
    from store.db import open_engine
    from store.errors import StoreError

    try:
        return open_engine(settings.sqlalchemy_url)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
