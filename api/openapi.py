"""The OpenAPI document as the app behaves: every status an operation can answer, and error
bodies as they are.

FastAPI documents 200 and 422 and says a 422's ``detail`` is a list; partymap's errors are
``{"detail": "<one readable line>"}`` (a 422 for a request that failed validation adds
``errors``, the per-field list: :mod:`api.errors`). :func:`document_errors` rewrites the
document once, when it is first asked for, from what each route depends on:

===========================================  ============================================
what the operation has                       statuses added (unless it declares its own)
===========================================  ============================================
a login or any bearer token                  401
a role check                                 403
a path id, or an id among its parameters     404 (outside the caller's scope reads as
or body fields                               nonexistent)
parameters or a body                         422 (``HTTPValidationError``, as described)
a body                                       400 (a body that cannot be parsed at all)
a change (POST, PATCH, DELETE) after login   409 (a taken key, a tree cycle, a race)
the database                                 503 (the database is unreachable)
===========================================  ============================================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase

from api.deps import current_user, get_session

PROBLEM = "Problem"
VALIDATION = "HTTPValidationError"
_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM,
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "description": "A refusal: what was wrong, in one sentence.",
}
_VALIDATION_SCHEMA: dict[str, Any] = {
    "title": VALIDATION,
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "title": "Detail"},
        "errors": {
            "type": "array",
            "title": "Errors",
            "description": "Per field: where (``loc``), what (``msg``, ``type``).",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "description": "The request does not fit the document or cannot be stored as given.",
}
_REASONS = {
    400: "The body cannot be parsed.",
    401: "Not logged in, or the token is invalid or expired.",
    403: "The caller's role may not do this.",
    404: "It does not exist, or lies outside the caller's scope.",
    409: "The change conflicts with existing data.",
    422: "Validation error.",
    503: "The database is unreachable: try again.",
}
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` document every error status and body the app answers."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = make()
            _complete(app, schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(app: FastAPI, schema: dict[str, Any]) -> None:
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas[PROBLEM] = _PROBLEM_SCHEMA
    schemas[VALIDATION] = _VALIDATION_SCHEMA
    schemas.pop("ValidationError", None)
    for context in iter_route_contexts(app.routes):
        route = context.route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in context.methods or ():
            operation = schema["paths"].get(context.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code in _statuses(route, method):
                entry = responses.setdefault(str(code), {"description": _REASONS[code]})
                ref = VALIDATION if code == 422 else PROBLEM
                entry["content"] = {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}
                }


def _statuses(route: APIRoute, method: str) -> set[int]:
    dependant = route.dependant
    calls = {d.call for d in _walk(dependant)}
    # A user's login (devices' own endpoint declares its statuses itself).
    login = current_user in calls
    # Any bearer scheme (a display token, a device token) answers 401 to a missing or bad one.
    token = login or any(isinstance(call, SecurityBase) for call in calls)
    body = dependant.body_params
    params = [*dependant.path_params, *dependant.query_params, *dependant.header_params, *body]
    codes: set[int] = set()
    if token:
        codes.add(401)
    if any(getattr(call, "roles", None) for call in calls):
        codes.add(403)
    names = [p.name for p in params] + [name for p in body for name in _field_names(p)]
    if login and (dependant.path_params or any(n.endswith("_id") or n == "parent" for n in names)):
        codes.add(404)
    if params:
        codes.add(422)
    if body:
        codes.add(400)
    if login and method in _CHANGES:
        codes.add(409)
    if get_session in calls:
        codes.add(503)
    return codes


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


def _field_names(param: Any) -> list[str]:
    """The names of a body's fields, nested models' fields included."""
    return list(_names(getattr(getattr(param, "field_info", None), "annotation", None), 3))


def _names(annotation: Any, depth: int) -> Iterator[str]:
    if depth == 0:
        return
    fields = getattr(annotation, "model_fields", None)
    if fields is None:
        for inner in get_args(annotation):  # X | None, Annotated[X, …]
            yield from _names(inner, depth)
        return
    for name, field in fields.items():
        yield name
        yield from _names(field.annotation, depth - 1)
