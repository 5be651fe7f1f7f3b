"""``POST /api/v1/devices/{uid}/nmea``: a device posts NMEA lines over HTTP.

The device authenticates with its own token (``Authorization: Bearer <device token>``, issued
by ``POST /api/v1/devices/{id}/token``); user tokens are not accepted here and device tokens
are accepted nowhere else. The body (``text/plain``, up to ``settings.ingest_max_bytes``) goes
to the ingestion daemon's :class:`api.ingest.IngestSink` as it is: framing, checksums and
rejections are the pipeline's business, so a body of garbage is still 202. A body is a
complete upload (whole epochs; its last line needs no line break): 202 comes once its fixes
are committed, so an acknowledged fix survives a crash.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from api.deps import DbSession, oauth2_scheme
from api.ingest import IngestTooLargeError, IngestUnavailableError
from api.routes import API_PREFIX
from store.devices import verify_device_token

router = APIRouter(prefix=API_PREFIX, tags=["devices"])

DeviceUid = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The identifier the device sends (IMEI, serial…), not the numeric id.",
        examples=["868120301234567"],
    ),
]
_TEXT_TYPES = ("text/plain", "application/octet-stream")


class IngestReceipt(BaseModel):
    device_uid: str
    bytes: int = Field(description="Bytes handed to the ingestion pipeline.")
    lines: int = Field(description="Line breaks in the body.")


@router.post(
    "/devices/{uid}/nmea",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Post NMEA (device)",
    response_description="Stored: every fix of the body's lines is committed (rejected ones "
    "with their reasons), about one batch age after the post.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": "$GNGGA,080000.00,3030.0000,N,11418.0000,E,1,12,0.9,21.5,"
                    "M,,M,,*4B\r\n",
                }
            },
        }
    },
    responses={
        401: {"description": "Unknown device, wrong or rotated token, or device deactivated."},
        413: {
            "description": "Body larger than the configured limit, or (on an edge of a "
            "cluster) holding a line longer than one NATS message can carry: nothing was taken."
        },
        415: {"description": "Body is not text/plain."},
        503: {
            "description": "This server runs no ingestion pipeline, it is stopping or has "
            "failed, the database is unavailable, or this device's lines are set aside "
            "(quarantined): the body was not stored; try again after `Retry-After` seconds."
        },
    },
)
async def post_nmea(
    uid: DeviceUid,
    request: Request,
    session: DbSession,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> IngestReceipt:
    """Hand a device's NMEA lines to the ingestion pipeline; answers once their fixes are
    stored (waits while it is saturated). A body holds whole epochs: its end closes the last."""
    if not token:
        raise _unauthorized()
    try:
        device = await run_in_threadpool(verify_device_token, session, uid=uid, token=token)
    except SQLAlchemyError as exc:  # the database is away: the device should try again
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the database is unavailable: nothing was taken, post these lines again later",
            headers={"Retry-After": "5"},
        ) from exc
    if device is None:
        raise _unauthorized()
    session.close()  # nothing more to read; do not hold a connection while the sink waits
    media = request.headers.get("content-type", "text/plain").split(";")[0].strip().lower()
    if media not in _TEXT_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="send NMEA as text/plain"
        )
    limit = request.app.state.settings.ingest_max_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                detail=f"body over {limit} bytes: post smaller batches",
            )
    sink = request.app.state.ingest
    if sink is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="this server runs no ingestion pipeline: post to `partymap serve`",
        )
    data = bytes(body)
    try:
        await sink.send(uid, data)
    except IngestUnavailableError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"{exc}: nothing was taken, post these lines again later",
            headers={"Retry-After": "5"},
        ) from exc
    except IngestTooLargeError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=str(exc)) from exc
    return IngestReceipt(device_uid=uid, bytes=len(data), lines=data.count(b"\n"))


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="device not recognised: send its current token as Authorization: Bearer",
        headers={"WWW-Authenticate": "Bearer"},
    )
