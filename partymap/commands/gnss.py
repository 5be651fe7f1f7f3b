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
    from gnss.logs.reader import decode_log, decode_log_table, read_log

    data = read_log(log)
    try:
        if jsonl and not reference:
            # The batch path end to end: columns from the scanner to the encoder, no Fix objects.
            decoded_table = decode_log_table(data)
            counts = decoded_table.counts
            _print_jsonl_table(decoded_table.table)
        else:
            decoded = decode_log(data, fast=not reference)
            counts = decoded.counts
            if jsonl:
                _print_jsonl(decoded.fixes)
            else:
                _print_table(decoded.fixes, log.name)
    except BrokenPipeError:  # `| head`: the reader has seen enough; still sum up on stderr
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    typer.echo(counts.summary(), err=True)


def _print_jsonl_table(table: FixTable) -> None:
    from gnss.logs.export import table_jsonl

    sys.stdout.flush()
    sys.stdout.buffer.write(table_jsonl(table))
    sys.stdout.buffer.flush()


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
