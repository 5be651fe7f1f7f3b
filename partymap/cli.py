"""The ``partymap`` command line: one typer app, one module per command group.

Every command ends bad input with one ``error: …`` line and exit code 2
(:mod:`partymap.commands.common`).

Command modules import their heavy dependencies inside the command functions so that
``partymap --help`` stays fast.
"""

from __future__ import annotations

import typer

from partymap.commands import admin, db, demo, gnss, maps, serve
from partymap.commands.common import OneLineErrors

app = typer.Typer(
    name="partymap",
    cls=OneLineErrors,
    help="BeiDou/GNSS presence, check-ins and meeting attendance for party organisations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Docstrings are wrapped at 100 columns; markdown mode reflows their paragraphs.
    rich_markup_mode="markdown",
)
app.add_typer(gnss.app, name="gnss")
app.add_typer(db.app, name="db")
app.add_typer(admin.import_app, name="import")
app.add_typer(admin.user_app, name="user")
app.add_typer(admin.report_app, name="report")
demo.register(app)
serve.register(app)
maps.register(app)


def main() -> None:
    app()
