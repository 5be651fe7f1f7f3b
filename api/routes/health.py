"""``GET /healthz`` (liveness and database) and ``GET /metrics`` (Prometheus), unauthenticated.

Neither says anything about members: counts and latencies only.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.metrics import CONTENT_TYPE

router = APIRouter(tags=["service"])


@router.get(
    "/healthz",
    summary="Health",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "status": "ok",
                        "database": "ok",
                        "ingestion": {"state": "running", "quarantined_devices": 0},
                    }
                }
            }
        },
        503: {"description": "The database does not answer, or the ingestion pipeline failed."},
    },
)
async def healthz(request: Request) -> JSONResponse:
    """``ok`` when the service answers and its database does, and (on ``partymap serve``) its
    ingestion pipeline runs; ``ingestion.state`` is ``running``, ``degraded`` (the lines of
    some devices whose data made a batch fail are set aside), ``stopping`` or ``failed``."""
    sink = request.app.state.ingest
    ingestion = sink.status() if sink is not None else None

    def ping() -> None:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except SQLAlchemyError as exc:
        body = {"status": "unavailable", "database": type(exc).__name__}
        return JSONResponse(body | _with(ingestion), status_code=503)
    if ingestion is not None and ingestion.get("state") == "failed":
        body = {"status": "unavailable", "database": "ok", "ingestion": ingestion}
        return JSONResponse(body, status_code=503)
    answer: dict[str, object] = {"status": "ok", "database": "ok"} | _with(ingestion)
    # On several machines (partymap serve --role …): the node's role, partitions, lag, stream.
    cluster = getattr(request.app.state, "cluster", None)
    if cluster is not None:
        answer["cluster"] = await cluster()
    return JSONResponse(answer)


def _with(ingestion: dict[str, object] | None) -> dict[str, object]:
    return {} if ingestion is None else {"ingestion": ingestion}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}},
)
def metrics(request: Request) -> Response:
    """Ingestion and HTTP counters in the Prometheus text format."""
    state = request.app.state
    return Response(state.metrics.render(state.registry), media_type=CONTENT_TYPE)
