"""Error responses: every refusal is a 4xx with a sentence saying what was wrong.

Handlers map the store's exception tree (:mod:`store.errors`) and the geo layer's
(:mod:`geo.errors`) onto HTTP statuses, and rewrite request validation errors into one
readable ``detail`` line plus the per-field list (without echoing the input, which may hold
a password). The body is always ``{"detail": "..."}``, as FastAPI's own errors are.

====================================  ======
StoreError subclass                   status
====================================  ======
NotFoundError                         404
InvalidValueError, GeoError           422
ConflictError, IntegrityError         409 (a taken key: the same words whoever holds it)
DatabaseUnavailableError, schema      503
====================================  ======
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError

from geo.errors import GeoError
from store.errors import (
    ConflictError,
    DatabaseUnavailableError,
    DuplicateKeyError,
    InvalidValueError,
    NotFoundError,
    SchemaOutOfDateError,
    StoreError,
)

_STORE_STATUS: tuple[tuple[type[StoreError], int], ...] = (
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (InvalidValueError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (ConflictError, status.HTTP_409_CONFLICT),
    (DatabaseUnavailableError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (SchemaOutOfDateError, status.HTTP_503_SERVICE_UNAVAILABLE),
)


def store_status(exc: StoreError) -> int:
    for cls, code in _STORE_STATUS:
        if isinstance(exc, cls):
            return code
    return status.HTTP_400_BAD_REQUEST


def error(status_code: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status_code)


async def _store_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoreError)
    if isinstance(exc, DuplicateKeyError):
        # Whose the key is may lie outside the caller's scope: the words name only the key.
        return error(status.HTTP_409_CONFLICT, exc.public)
    return error(store_status(exc), str(exc))


async def _geo_error(_request: Request, exc: Exception) -> JSONResponse:
    return error(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


async def _integrity_error(_request: Request, _exc: Exception) -> JSONResponse:
    # Two requests racing for one unique key: the store's own check passed for both.
    return error(status.HTTP_409_CONFLICT, "the change conflicts with existing data; retry")


async def _data_error(_request: Request, _exc: Exception) -> JSONResponse:
    return error(
        status.HTTP_422_UNPROCESSABLE_CONTENT, "a value cannot be stored (too long or out of range)"
    )


def field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Per-field problems: where, what; never the input itself."""
    return [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in exc.errors()
    ]


def readable(errors: list[dict[str, Any]]) -> str:
    """One line: ``body.name: String should have at most 200 characters; …``."""
    parts = [f"{'.'.join(e['loc']) or 'request'}: {e['msg']}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc)
    return error(status.HTTP_422_UNPROCESSABLE_CONTENT, readable(errors), errors=errors)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(GeoError, _geo_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
