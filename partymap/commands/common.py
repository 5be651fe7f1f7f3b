"""What every command shares: ``--url``, settings, the database it reads, and one-line errors.

Bad input of any kind (an unknown option value, a file that is not what the command reads, an
id that does not exist, a setting that does not validate, a database that is not there) ends a
command with one line on stderr, ``error: …``, and exit code 2. A problem of the machine (the
database server is down, SpatiaLite is missing) is exit code 1, also in one line. Anything else
is a bug and keeps its traceback.

>>> from pydantic import ValidationError
>>> from partymap.settings import Settings
>>> try:
...     Settings(environment="production", secret_key="short")
... except ValidationError as exc:
...     print(one_line(exc))  # doctest: +ELLIPSIS
PARTYMAP_SECRET_KEY cannot sign logins with ...: it is 5 bytes long (at least 32); ...
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from partymap.settings import Settings

BAD_INPUT = 2
UNAVAILABLE = 1

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Database URL (default: PARTYMAP_DATABASE_URL, else the embedded SpatiaLite file).",
    ),
]


class BadInputError(Exception):
    """A command was given something it cannot work with; the message says what and why."""


def settings_for(url: str | None = None, **changes: Any) -> Settings:
    """The settings from the environment, with ``--url`` (and ``changes``) on top."""
    from partymap.settings import Settings

    settings = Settings()
    if url:
        changes["database_url"] = url
    return settings.model_copy(update=changes) if changes else settings


def require_database(settings: Settings) -> None:
    """Refuse an embedded database file that does not exist, rather than make an empty one.

    Commands that read data call this: reading a new, empty database answers nothing and
    hides that the command looked in the wrong place.
    """
    from sqlalchemy.engine import make_url

    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database).expanduser()
    if not path.is_file():
        raise BadInputError(
            f"no database at {path}: give --url (or PARTYMAP_DATABASE_URL) for the one to read "
            f"(`partymap demo` prints its own), or create this one with "
            f"`partymap db upgrade`"
        )


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line; a settings error names the variable and never
    echoes the value (it may be a secret)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors(include_input=False, include_url=False):
            name = "_".join(str(p) for p in error.get("loc", ())).upper()
            message = str(error.get("msg", "")).removeprefix("Value error, ")
            parts.append(f"PARTYMAP_{name}: {message}" if name else message)
        text = "; ".join(parts)
    else:
        text = str(exc)
    return " ".join(text.split())


def classify(exc: BaseException) -> int | None:
    """The exit code for an exception a command may end with (None: a bug, re-raise)."""
    from pydantic import ValidationError

    from geo.errors import GeoError
    from store.errors import DatabaseUnavailableError, SchemaOutOfDateError, StoreError

    if isinstance(exc, (DatabaseUnavailableError, SchemaOutOfDateError)):
        return UNAVAILABLE
    if isinstance(exc, (BadInputError, StoreError, GeoError, ValidationError)):
        return BAD_INPUT
    return None


class OneLineErrors(TyperGroup):
    """The top-level command group: usage errors and refusals become ``error: …`` lines."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def run() -> Any:
            return super(OneLineErrors, self).main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )

        if not standalone_mode:
            return run()
        try:
            result = run()
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(UNAVAILABLE)
        except typer.TyperException as exc:  # usage errors: a bad option, a missing file…
            context = getattr(exc, "ctx", None)
            hint = f" (see `{context.command_path} --help`)" if context is not None else ""
            typer.echo(f"error: {one_line_text(exc.format_message())}{hint}", err=True)
            sys.exit(getattr(exc, "exit_code", BAD_INPUT))
        except Exception as exc:
            code = classify(exc)
            if code is None:
                raise
            typer.echo(f"error: {one_line(exc)}", err=True)
            sys.exit(code)
        sys.exit(result if isinstance(result, int) else 0)


def one_line_text(text: str) -> str:
    return " ".join(text.split())
