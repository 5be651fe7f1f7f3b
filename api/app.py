"""The application factory: ``create_app(settings, …)`` builds the FastAPI app, never at import.

Everything the routes share lives on ``app.state``: ``settings``, ``engine``, ``sessionmaker``,
``live`` (the :class:`store.live.LiveFeed` the SSE stream reads), ``ingest`` (the
:class:`api.ingest.IngestSink` HTTP ingest hands NMEA to, or None), ``registry`` (the
Prometheus registry ``/metrics`` renders), ``changes`` (the :class:`api.changes.ChangeNotices` a
cluster's node tells the others by, or None) and ``login_throttle``.

>>> from partymap.settings import Settings
>>> from store.db import make_engine
>>> from store.migrations import upgrade
>>> engine = make_engine("sqlite://")
>>> upgrade(engine)
>>> app = create_app(Settings(), engine=engine)
>>> app.state.ingest is None, app.url_path_for("healthz")
(True, '/healthz')
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from api.auth import LoginThrottle
from api.changes import ChangeNotices
from api.errors import install_error_handlers
from api.ingest import IngestSink
from api.metrics import HttpMetrics, MetricsMiddleware
from api.openapi import document_errors
from api.routes import (
    admin,
    alarms,
    auth,
    checkins,
    devices,
    display,
    docs,
    health,
    leave,
    meetings,
    member_page,
    members,
    orgs,
    plans,
    positions,
    sites,
    stats,
    stream,
    visits,
)
from api.routes import ingest as ingest_routes
from api.routes import map as map_routes
from partymap.settings import Settings
from store.db import make_sessionmaker, open_engine
from store.live import LiveFeed

DESCRIPTION = """\
BeiDou/GNSS presence, check-ins and meeting attendance (三会一课) for party organisations.

Log in with `POST /api/v1/auth/token` and send the token as `Authorization: Bearer …`.
What a caller sees follows the organisation tree: a **member** their own data, a
**branch_admin** their organisation's subtree, a **committee_admin** their subtree or the
whole tree; **devices** only post NMEA with their device token; a big screen reads
`/api/v1/display/…` with a display token. Every read of a member's positions, track, visits,
check-ins, attendance or leave is written to the audit log.

Geometry is GeoJSON (RFC 7946): WGS 84, `[longitude, latitude]`. Times are ISO 8601 with an
offset; answers are in UTC. Lists take `limit` and `offset` and say `next_offset` when more
follow.
"""

# uvicorn's proxy_headers for every server of this app: X-Forwarded-For is the app's to read,
# from the proxies PARTYMAP_TRUSTED_PROXIES names (uvicorn would believe it from 127.0.0.1).
PROXY_HEADERS = False

TAGS = [
    {"name": "auth", "description": "Log in and out; who am I."},
    {"name": "organisations", "description": "The organisation tree (党委 → 党总支 → 党支部)."},
    {"name": "members", "description": "Party members and transfers (组织关系转接)."},
    {"name": "devices", "description": "Receivers and their tokens; HTTP ingest of NMEA."},
    {"name": "sites", "description": "Branch sites and worksites as GeoJSON."},
    {"name": "positions", "description": "Latest positions and tracks (audited reads)."},
    {"name": "visits", "description": "Visits and check-ins with their evidence (audited)."},
    {"name": "meetings", "description": "三会一课 and 主题党日: plans, leave, attendance."},
    {
        "name": "check-in",
        "description": "Members check in from their phones: position or the meeting's code.",
    },
    {"name": "statistics", "description": "The committee's view (考核): figures and alerts."},
    {"name": "admin", "description": "Users, imports and the audit log."},
    {"name": "live", "description": "Server-Sent Events of positions and check-ins."},
    {"name": "display", "description": "The big screen (大屏): read-only display tokens."},
    {"name": "service", "description": "Health and metrics."},
]


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    live: LiveFeed | None = None,
    ingest: IngestSink | None = None,
    registry: CollectorRegistry | None = None,
    changes: ChangeNotices | None = None,
) -> FastAPI:
    """The API for ``settings``.

    ``engine``: the database (default: :func:`store.db.open_engine`, disposed when the app
    stops); ``live``: the feed the ingestion daemon publishes to (default: a feed of the app's
    own, silent without a daemon); ``ingest``: where HTTP-posted NMEA goes (None: that endpoint
    answers 503); ``registry``: the daemon's Prometheus metrics, rendered by ``/metrics``;
    ``changes``: where routes announce changes of sites, devices, members and organisations
    (None: nowhere, one process).
    """
    own_engine = engine is None
    engine = open_engine(settings.sqlalchemy_url) if engine is None else engine

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_engine:
            engine.dispose()

    app = FastAPI(
        title="partymap",
        version="1",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # /docs and /redoc come from api.routes.docs, with their files served from the package.
        docs_url=None,
        redoc_url=None,
    )
    metrics = HttpMetrics()
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.write_sessionmaker = make_sessionmaker(engine, immediate=True)
    app.state.live = live if live is not None else LiveFeed()
    app.state.ingest = ingest
    app.state.changes = changes
    app.state.registry = registry if registry is not None else CollectorRegistry()
    app.state.metrics = metrics
    app.state.login_throttle = LoginThrottle.from_settings(settings)

    install_error_handlers(app)
    document_errors(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for router in (
        auth.router,
        orgs.router,
        members.router,
        devices.router,
        ingest_routes.router,
        sites.router,
        positions.router,
        visits.router,
        meetings.router,
        plans.router,
        leave.router,
        checkins.router,
        stats.router,
        display.router,
        admin.router,
        stream.router,
        alarms.router,
        map_routes.router,
        member_page.router,
        health.router,
        docs.router,
    ):
        app.include_router(router)
    return app
