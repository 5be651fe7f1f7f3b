"""Schemathesis over the OpenAPI document: the app behaves as its document says.

Every generated request, valid (positive) or not (negative), is checked with schemathesis's
conformance checks, not only for server errors: each answer's status is one the operation
documents, its content type and body match the documented response, and a request the
schema forbids is refused (4xx), never accepted through lax coercion (``false`` stored as 0).

Requests carry a whole-tree admin's token, so they reach the routes' own checks rather than
stopping at authentication; the database holds the small world of :mod:`tests.api.world` so
that some generated ids exist. Each operation gets a few examples per mode, derandomised, to
keep the run short and repeatable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from tests.api.conftest import make_app
from tests.api.world import build_world

EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_app_behaves_as_its_document_says(
    mode: GenerationMode, engine: Engine, tmp_path: Path
) -> None:
    app = make_app(
        engine, tmp_path, login_max_failures=1_000_000, login_max_attempts_per_address=1_000_000
    )
    world = build_world(engine, app.state.settings)
    headers = {"Authorization": f"Bearer {world.tokens['whole_tree']}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if operation.path == "/api/v1/stream":
            continue  # an endless response: tests/api/test_stream.py

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            where = f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:200]!r}"
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the app raised: the server would answer 500
                failures.append(f"{where}: raised {exc!r}"[:600])
                return
            try:
                case.validate_response(response, headers=headers, checks=CHECKS)
            except Exception as exc:  # a failure group: every check that failed, explained
                failures.append(f"{where}: {response.status_code} {exc}"[:1500])

        try:
            run()
        except Unsatisfiable:
            continue  # nothing to get wrong: an operation without parameters or body
        tried += 1
    assert tried >= (40 if mode is GenerationMode.POSITIVE else 30), "operations exercised"
    assert not failures, "\n".join(failures[:20])
