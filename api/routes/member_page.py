"""The member's page (``/m/``) and the files that make it an installable app.

The page itself asks for a login; its files are public like the dashboard's. The service
worker is served from ``/m/`` so that its scope covers the page.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from api.deps import AppSettings
from maps.member import manifest, member_file, member_html

router = APIRouter(tags=["member page"])
Language = Annotated[Literal["zh-CN", "en"] | None, Query()]


@router.get("/m/", include_in_schema=False, response_class=HTMLResponse)
def member_page(settings: AppSettings, lang: Language = None) -> HTMLResponse:
    """The member's page; opening a meeting's QR code lands here with the code."""
    return HTMLResponse(
        member_html(lang or settings.language), headers={"Cache-Control": "no-cache"}
    )


@router.get("/m/manifest.webmanifest", include_in_schema=False)
def member_manifest(settings: AppSettings, lang: Language = None) -> JSONResponse:
    return JSONResponse(manifest(lang or settings.language), media_type="application/manifest+json")


@router.get("/m/{name}", include_in_schema=False)
def member_asset(name: str) -> FileResponse:
    """The page's script, styles, icons and service worker."""
    found = member_file(name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no file {name!r}")
    path, media_type = found
    headers = {"Cache-Control": "no-cache"}
    if name == "sw.js":
        headers["Service-Worker-Allowed"] = "/m/"
    return FileResponse(path, media_type=media_type, headers=headers)
