"""``partymap gnss …``: look at what the GNSS layer makes of a log.

``partymap gnss fixes LOG`` decodes a gpsd-format log or a plain NMEA capture and prints one
line per fix: a table for people, or with ``--jsonl`` one JSON object per fix (the keys of
DESIGN §7, see :mod:`gnss.logs.export`). Either way the lines accepted and rejected by reason, and
the epochs that could not become fixes, are summed up on stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Iterable

    from gnss.fixtable import FixTable
    from gnss.model import Fix

app = typer.Typer(help="Inspect NMEA logs.", no_args_is_help=True)


@app.command()
def fixes(
    log: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="gpsd-format log or NMEA capture."
        ),
    ],
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON object per fix instead of a table.")
    ] = False,
    reference: Annotated[
        bool,
        typer.Option("--reference", help="Decode on the reference path (slower, same fixes)."),
    ] = False,
) -> None:
    """Print the fixes of LOG; lines accepted and rejected by reason go to stderr."""
    from gnss.logs.reader import LogTables, decode_log, read_log, read_pieces

    if jsonl and not reference:
        # The batch path end to end, a piece of the log at a time: columns from the scanner to
        # the encoder, no Fix objects, and memory that does not grow with the log.
        tables = LogTables(read_pieces(log))
        pending = iter(tables)
        try:
            _print_jsonl_tables(pending)
        except BrokenPipeError:
            _quiet_stdout()
            for _ in pending:  # the summary still covers the whole log
                pass
        counts = tables.counts
    else:
        decoded = decode_log(read_log(log), fast=not reference)
        counts = decoded.counts
        try:
            if jsonl:
                _print_jsonl(decoded.fixes)
            else:
                _print_table(decoded.fixes, log.name)
        except BrokenPipeError:
            _quiet_stdout()
    typer.echo(counts.summary(), err=True)


def _quiet_stdout() -> None:
    """After `| head` has seen enough: later writes (and the exit's flush) go nowhere."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _print_jsonl_tables(tables: Iterable[FixTable]) -> None:
    from gnss.logs.export import table_jsonl

    sys.stdout.flush()
    out = sys.stdout.buffer
    for table in tables:
        out.write(table_jsonl(table))
    out.flush()


def _print_jsonl(fixes: list[Fix]) -> None:
    from gnss.logs.export import fix_jsonl

    out = sys.stdout
    for fix in fixes:
        out.write(fix_jsonl(fix) + "\n")
    out.flush()


def _print_table(fixes: list[Fix], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from gnss.logs.export import iso_time
    from gnss.model import Constellation

    table = Table(title=title, show_lines=False)
    for name in (
        "time (UTC)",
        "lat",
        "lon",
        "alt m",
        "mode",
        "q",
        "HDOP",
        "used BDS/all",
        "in view",
        "m/s",
        "±m",
    ):
        table.add_column(name, justify="left" if name.startswith("time") else "right", no_wrap=True)
    for fix in fixes:
        table.add_row(
            iso_time(fix.time).replace("T", " ").removesuffix("Z"),
            _number(fix.lat, 7),
            _number(fix.lon, 7),
            _number(fix.alt_m, 1),
            _MODES[fix.mode],
            str(int(fix.quality)),
            _number(fix.hdop, 2),
            f"{fix.sats_used_by_system.get(Constellation.BEIDOU, 0)}/{_number(fix.sats_used, 0)}",
            str(sum(fix.sats_in_view_by_system.values())),
            _number(fix.speed_mps, 2),
            _number(fix.accuracy_m, 2),
        )
    console = Console()
    if not console.is_terminal:  # piped into a file or a pager: do not squeeze to 80 columns
        console = Console(width=160)
    console.print(table)


_MODES = {1: "-", 2: "2D", 3: "3D"}


def _number(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"
