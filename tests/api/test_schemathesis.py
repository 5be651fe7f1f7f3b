"""Schemathesis over the OpenAPI document: no generated request, valid or not, gets a 5xx.

Requests carry a whole-tree admin's token, so they reach the routes' own checks rather than
stopping at authentication; the database holds the small world of :mod:`tests.api.world` so
that some generated ids exist. Each operation gets a few examples (positive and negative
data), derandomised, to keep the run short and repeatable.
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import Engine

from tests.api.conftest import make_app
from tests.api.world import build_world

EXAMPLES = 10


def test_no_server_errors(engine: Engine, tmp_path: Path) -> None:
    app = make_app(
        engine, tmp_path, login_max_failures=1_000_000, login_max_attempts_per_address=1_000_000
    )
    world = build_world(engine, app.state.settings)
    headers = {"Authorization": f"Bearer {world.tokens['whole_tree']}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/stream":
            continue  # an endless response: tests/api/test_stream.py

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            where = f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:200]!r}"
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the app raised: the server would answer 500
                failures.append(f"{where}: raised {exc!r}"[:600])
                return
            if response.status_code >= 500:
                failures.append(f"{where}: {response.status_code} {response.text[:200]}")

        run()
        tried += 1
    assert tried >= 40, "every operation of the document was exercised"
    assert not failures, "\n".join(failures[:30])
