"""``partymap import|user|report …``: administration through the same code as the API.

``partymap import orgs|members|devices|sites FILE`` runs :mod:`store.imports` (the code behind
``POST /api/v1/import/{kind}``) with the whole tree in scope; ``partymap user add`` creates a
login; ``partymap report attendance`` prints a meeting's attendance, or the statistics per
organisation, with :mod:`api.reports` (the code behind the attendance endpoints).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from partymap.commands.common import UrlOption, require_database, settings_for

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

import_app = typer.Typer(
    help="Import organisations, sites, members or devices.", no_args_is_help=True
)
user_app = typer.Typer(help="Manage users who log in to the API and map.", no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)

FileArgument = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The file to import.")
]


@contextlib.contextmanager
def _session(url: str | None, *, must_exist: bool = False) -> Iterator[Session]:
    """A session on the configured database (with ``must_exist``, refuse to create it)."""
    from store.db import make_sessionmaker, open_engine

    settings = settings_for(url)
    if must_exist:
        require_database(settings)
    engine = open_engine(settings.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _report_import(result: object) -> None:
    from store.imports import ImportResult

    assert isinstance(result, ImportResult)
    typer.echo(f"{result.kind}: {result.created} created, {result.updated} updated", err=True)
    for note in result.notes:
        typer.echo(f"  {note}", err=True)
    if result.site_ids:
        # The map from the file's ids to the stored sites' goes to stdout, for scripts.
        typer.echo("file_id,site_id")
        for file_id, site_id in result.site_ids.items():
            typer.echo(f"{file_id},{site_id}")
    if result.tokens:
        # Tokens go to stdout (redirect them into a file for the devices); shown only once.
        typer.echo("uid,token")
        for uid, token in result.tokens.items():
            typer.echo(f"{uid},{token}")


def _announce(url: str | None, kind: str) -> None:
    """Tell the nodes of a cluster (``PARTYMAP_NATS_URL`` set) at once; without it, or when
    NATS cannot be reached, they find the change on their next refresh."""
    settings = settings_for(url)
    if settings.nats_url is None:
        return
    import asyncio

    from api.changes import Kind
    from partymap.cluster.changes import tell

    asyncio.run(tell(settings, Kind(kind)))


def _import_csv(kind: str, file: Path, url: str | None, *, issue_tokens: bool = False) -> None:
    from api.auth import system_principal
    from store.imports import import_upload

    with _session(url) as session:
        result = import_upload(
            session,
            system_principal(),
            kind,
            file.read_bytes(),
            file.name,
            issue_tokens=issue_tokens,
        )
        session.commit()
    _announce(url, kind)
    _report_import(result)


@import_app.command("orgs")
def import_orgs(file: FileArgument, url: UrlOption = None) -> None:
    """Organisations from CSV: code, name, kind, parent_code."""
    _import_csv("orgs", file, url)


@import_app.command("members")
def import_members(file: FileArgument, url: UrlOption = None) -> None:
    """Members from CSV: code, name, org_code, phone, active (a new org_code transfers)."""
    _import_csv("members", file, url)


@import_app.command("devices")
def import_devices(
    file: FileArgument,
    url: UrlOption = None,
    issue_tokens: Annotated[
        bool, typer.Option("--issue-tokens", help="Give each device a new token (printed once).")
    ] = False,
) -> None:
    """Devices from CSV: uid, member_code, name, active."""
    _import_csv("devices", file, url, issue_tokens=issue_tokens)


@import_app.command("sites")
def import_sites(
    file: FileArgument,
    *,
    url: UrlOption = None,
    coord_sys: Annotated[
        str, typer.Option(help="gcj02 for sites digitised on AMap/Tencent tiles.")
    ] = "wgs84",
    repair: Annotated[bool, typer.Option(help="Mend invalid polygons.")] = False,
    layer: Annotated[
        str | None, typer.Option(help="GeoPackage layer (default: the first).")
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of a file that declares none, e.g. EPSG:4490.")
    ] = None,
) -> None:
    """Sites from GeoJSON, GeoPackage or Shapefile (see geo.sites.load for the columns)."""
    from api.auth import system_principal
    from store.imports import import_sites as run_import

    with _session(url) as session:
        result = run_import(
            session,
            system_principal(),
            file,
            coord_sys=coord_sys,
            repair=repair,
            layer=layer,
            crs=crs,
        )
        session.commit()
    _announce(url, "sites")
    _report_import(result)


@user_app.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="Login name.")],
    *,
    role: Annotated[
        str, typer.Option(help="member, branch_admin or committee_admin.")
    ] = "branch_admin",
    org: Annotated[
        int | None, typer.Option(help="Scope root (admins); none: the whole tree.")
    ] = None,
    member: Annotated[int | None, typer.Option(help="The member a member user is.")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="Password (default: asked for, not echoed).", show_default=False),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Create a user who logs in to the API and the map."""
    from store.models import Role
    from store.users import create_user

    try:
        chosen = Role(role)
    except ValueError as exc:
        raise typer.BadParameter(f"role must be one of {[r.value for r in Role]}") from exc
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with _session(url) as session:
        user = create_user(
            session, username=username, password=password, role=chosen, org_id=org, member_id=member
        )
        session.commit()
        typer.echo(f"user {user.username} (id {user.id}, {chosen.value}) created")


FORMATS = ("csv", "xlsx", "json")
LANGS = ("zh-CN", "en")


@report_app.command("attendance")
def report_attendance(
    *,
    meeting: Annotated[int | None, typer.Option(help="One meeting's attendance.")] = None,
    org: Annotated[
        int | None, typer.Option(help="Statistics of this organisation's subtree.")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option("--from", help="Meetings starting at or after (UTC).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--to", help="Meetings starting before (UTC).")
    ] = None,
    format: Annotated[str, typer.Option(help="csv, xlsx or json.")] = "csv",
    lang: Annotated[str, typer.Option(help="Headers: zh-CN or en.")] = "zh-CN",
    out: Annotated[
        Path | None, typer.Option(help="Write to this file (default: stdout; xlsx needs it).")
    ] = None,
    record: Annotated[
        bool,
        typer.Option("--record", help="Record the meeting's attendance now (it must have ended)."),
    ] = False,
    url: UrlOption = None,
) -> None:
    """A meeting's attendance (--meeting), the same file the API gives, or recorded
    attendance per organisation. Reads of members' attendance are audited."""
    import json
    from datetime import UTC

    from api.auth import system_principal
    from api.deps import audit_member_read
    from api.exports import meeting_csv, meeting_xlsx
    from api.formats import csv_table, xlsx_table
    from api.reports import STATS_HEADER, attendance_out, attendance_stats, meeting_sheet
    from api.reports import stats_rows as stats_table
    from partymap.settings import Settings
    from store.alerts import AlertRules
    from store.attendance import record_meeting

    if format not in FORMATS:
        raise typer.BadParameter(f"format must be one of {', '.join(FORMATS)}")
    if lang not in LANGS:
        raise typer.BadParameter(f"lang must be one of {', '.join(LANGS)}")
    if format == "xlsx" and out is None:
        raise typer.BadParameter("xlsx is binary: give --out FILE")
    with _session(url, must_exist=True) as session:
        if meeting is not None:
            now = datetime.now(UTC)
            if record:
                settings = Settings(database_url=url) if url else Settings()
                rules = AlertRules(
                    absent_streak=settings.meetings_alert_absent_streak,
                    min_rate=settings.meetings_alert_min_rate,
                )
                record_meeting(session, meeting_id=meeting, now=now, again=True, rules=rules)
            sheet = meeting_sheet(session, meeting_id=meeting, now=now)
            audit_member_read(
                session,
                system_principal(),
                sheet.member_ids(),
                "read_attendance",
                {"meeting_id": meeting, "via": "cli", "format": format},
            )
            session.commit()
            if format == "xlsx":
                assert out is not None
                out.write_bytes(meeting_xlsx(sheet, lang))
                return
            if format == "json":
                lines = [attendance_out(line).model_dump(mode="json") for line in sheet.lines]
                text = json.dumps(lines, ensure_ascii=False) + "\n"
            else:
                text = meeting_csv(sheet, lang)
            _write_text(text, out)
            return
        stats = attendance_stats(
            session,
            within_org_id=org,
            start=since.replace(tzinfo=UTC) if since else None,
            end=until.replace(tzinfo=UTC) if until else None,
        )
    header, rows = STATS_HEADER, stats_table(stats)
    if format == "xlsx":
        assert out is not None
        out.write_bytes(xlsx_table("attendance statistics", header, rows))
        return
    if format == "json":
        text = json.dumps([dict(zip(header, row, strict=True)) for row in rows], ensure_ascii=False)
        text += "\n"
    else:
        text = csv_table(header, rows)
    _write_text(text, out)


def _write_text(text: str, out: Path | None) -> None:
    if out is not None:
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text.removeprefix("\ufeff"))


@report_app.command("period")
def report_period(
    *,
    out: Annotated[Path, typer.Option(help="The workbook to write (.xlsx).")],
    org: Annotated[
        int | None, typer.Option(help="The subtree (default: the whole organisation).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--from", help="First local date, YYYY-MM-DD (default: 1 January)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Local date after the last (default: tomorrow).")
    ] = None,
    lang: Annotated[str, typer.Option(help="Headers: zh-CN or en.")] = "zh-CN",
    url: UrlOption = None,
) -> None:
    """The period report workbook of a subtree, the file GET /api/v1/reports/period gives:
    a summary per organisation, the period's meetings, a sheet per recorded meeting."""
    from datetime import UTC, date

    from api.auth import system_principal
    from api.deps import audit_member_read
    from api.period_report import period_workbook
    from partymap.settings import Settings

    if lang not in LANGS:
        raise typer.BadParameter(f"lang must be one of {', '.join(LANGS)}")
    try:
        first = date.fromisoformat(since) if since else None
        last = date.fromisoformat(until) if until else None
    except ValueError as exc:
        raise typer.BadParameter(f"dates are YYYY-MM-DD: {exc}") from exc
    settings = Settings(database_url=url) if url else Settings()
    with _session(url) as session:
        if org is not None:
            from store.orgs import get_organisation

            get_organisation(session, org_id=org)
        made = period_workbook(
            session, settings, root_id=org, start=first, end=last, lang=lang,
            now=datetime.now(UTC),
        )  # fmt: skip
        audit_member_read(
            session,
            system_principal(),
            made.member_ids,
            "read_attendance",
            {"what": "period_report", "via": "cli", "org_id": org},
        )
        session.commit()
    out.write_bytes(made.data)
    typer.echo(
        f"{out}: {made.meetings} meetings from {made.start} to {made.end} (exclusive), "
        f"{made.sheets} sheets",
        err=True,
    )
