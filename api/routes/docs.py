"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their files served from the package.

An intranet without internet access still gets readable API documentation: nothing is loaded
from a CDN or a font service. The files come from the npm registry (:mod:`api.vendoring`).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parents[1] / "static"
SWAGGER_JS = "vendor/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "vendor/swagger-ui/swagger-ui.css"
FAVICON = "vendor/swagger-ui/favicon-32x32.png"
REDOC_JS = "vendor/redoc/redoc.standalone.js"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def _url(relative: str) -> str:
    return f"/docs/static/{relative}?v={_digest(relative)}"


@cache
def _digest(relative: str) -> str:
    return hashlib.sha256((STATIC / relative).read_bytes()).hexdigest()[:12]


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=_url(SWAGGER_JS),
        swagger_css_url=_url(SWAGGER_CSS),
        swagger_favicon_url=_url(FAVICON),
        oauth2_redirect_url=OAUTH2_REDIRECT,
    )


@router.get(OAUTH2_REDIRECT, response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        redoc_js_url=_url(REDOC_JS),
        redoc_favicon_url=_url(FAVICON),
        with_google_fonts=False,
    )


@router.get("/docs/static/{path:path}")
def static(path: str) -> FileResponse:
    """Swagger UI's and ReDoc's files (versioned URLs: cached for a year)."""
    found = (STATIC / path).resolve()
    if not found.is_file() or STATIC not in found.parents:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no file {path!r}")
    return FileResponse(found, headers={"Cache-Control": "public, max-age=31536000, immutable"})
