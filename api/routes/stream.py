"""``GET /api/v1/stream``: Server-Sent Events of live positions, presence and check-ins.

The ingestion pipeline publishes dicts on the app's :class:`store.live.LiveFeed` with ``type``
(``position``, ``presence``, ``checkin``, ``visit_ended``; ``meeting`` and ``alert`` from the
meeting task), ``member_id``, ``org_id`` and ``org_path`` (the member's, or the meeting's,
organisation's materialised path). A caller receives the events of
the members they may see: a member their own, an admin those whose ``org_path`` lies in their
subtree (events without one only reach whole-tree admins).

Auditing, because positions are personal data: when a stream opens, one ``stream_open``
entry records who and with which scope; then, before the first event about a member is sent on
that stream, one ``read_live`` entry per member (who, whom, when, the stream's id) is committed.
Events wait for their entries: if the audit log cannot be written the stream ends instead of
sending unaudited positions. A member watched for hours costs one entry per stream, not one per
fix.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from api.deps import CurrentUser, Principal, audit_member_read
from api.routes import API_PREFIX
from store.audit import record_audit
from store.live import Event
from store.models import Role

router = APIRouter(prefix=API_PREFIX, tags=["live"])

# Events drained from the feed per audit write, so a burst costs one transaction.
_BATCH = 500


class EventType(enum.Enum):
    POSITION = "position"
    PRESENCE = "presence"
    CHECKIN = "checkin"
    VISIT_ENDED = "visit_ended"
    MEETING = "meeting"  # a meeting started, ended or was recorded
    ALERT = "alert"  # overdue, absent_streak or low_attendance


def visible(principal: Principal, event: Event) -> bool:
    """Whether ``principal`` may receive ``event``."""
    if principal.role is Role.MEMBER:
        return principal.member_id is not None and event.get("member_id") == principal.member_id
    path = event.get("org_path")
    if isinstance(path, str):
        return principal.can_admin_org(path)
    return principal.whole_tree


def encode(event: Event) -> str:
    """One SSE message: ``event: <type>`` and the event as JSON (times in ISO 8601)."""
    data = json.dumps(event, default=_json_default, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event.get('type', 'message')}\ndata: {data}\n\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


@router.get(
    "/stream",
    summary="Live events (SSE)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A text/event-stream that stays open.",
            "content": {
                "text/event-stream": {
                    "example": 'event: checkin\ndata: {"type":"checkin","member_id":7,'
                    '"org_id":23,"org_path":"/1/5/23/","site_id":4,'
                    '"time":"2026-05-01T08:02:00+00:00"}\n\n'
                }
            },
        }
    },
)
async def stream(
    request: Request,
    user: CurrentUser,
    types: Annotated[
        list[EventType] | None, Query(description="Only these event types (default: all).")
    ] = None,
) -> StreamingResponse:
    """Positions, presence changes and check-ins of the members the caller may see, as they
    happen. The map page's EventSource authenticates with the login cookie."""
    state = request.app.state
    wanted = frozenset(t.value for t in types) if types else frozenset(e.value for e in EventType)
    stream_id = uuid.uuid4().hex
    scope = "self" if user.role is Role.MEMBER else (user.org_path or "whole tree")
    await run_in_threadpool(
        _write,
        state.sessionmaker,
        lambda session: record_audit(
            session,
            actor=user.username,
            actor_user_id=user.user_id,
            action="stream_open",
            subject_member_id=user.member_id,
            detail={"stream": stream_id, "scope": scope, "types": sorted(wanted)},
        ),
    )
    events = _events(request, user, wanted, stream_id)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, user: Principal, wanted: frozenset[str], stream_id: str
) -> AsyncIterator[str]:
    state = request.app.state
    settings = state.settings
    audited: set[int] = set()
    yield ": partymap live stream\n\n"
    with state.live.subscribe() as subscription:
        while not await request.is_disconnected():
            first = await subscription.get(timeout=settings.sse_keepalive_seconds)
            if first is None:
                yield ": keepalive\n\n"
                continue
            batch = [first]
            while len(batch) < _BATCH and (more := await subscription.get(timeout=0)) is not None:
                batch.append(more)
            chosen = [e for e in batch if e.get("type") in wanted and visible(user, e)]
            new = {m for e in chosen if isinstance(m := e.get("member_id"), int)} - audited
            if new:
                await run_in_threadpool(
                    _write,
                    state.sessionmaker,
                    partial(
                        audit_member_read,
                        principal=user,
                        member_ids=new,
                        what="read_live",
                        detail={"stream": stream_id},
                    ),
                )
                audited |= new
            for event in chosen:
                yield encode(event)


def _write(factory: sessionmaker[Session], write: Callable[[Session], Any]) -> None:
    with factory() as session:
        write(session)
        session.commit()
