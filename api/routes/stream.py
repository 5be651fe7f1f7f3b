"""``GET /api/v1/stream``: Server-Sent Events of live positions, presence and check-ins.

The ingestion pipeline publishes dicts on the app's :class:`store.live.LiveFeed` with ``type``
(``position``, ``presence``, ``checkin``, ``visit_ended``; ``meeting`` and ``alert`` from the
meeting task), ``member_id``, ``org_id`` and ``org_path`` (the member's, or the meeting's,
organisation's materialised path when the event was made). A caller
receives the events of the members they may see: a member their own, an admin those whose
organisation lies in their subtree *now* — the stream looks up the current organisation of the
members in each batch, so a transfer moves a member out of the former admins' streams at once
(events without a member only reach whole-tree admins, or by their ``org_path``).

Sessions end with the user's rights: every ``sse_recheck_seconds`` the stream reads the user
again, and when they were deactivated, got a new password, role or organisation, or their
organisation moved, it sends ``event: end`` with the reason and closes. The browser's
EventSource then reconnects with whatever rights the user has now (none, after a
deactivation or a password change).

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
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from api.auth import TokenClaims, decode_access_token, principal_for
from api.deps import Bearer, CurrentUser, Principal, audit_member_read, request_token
from api.routes import API_PREFIX
from partymap.settings import Settings
from store.audit import record_audit
from store.live import LiveEvent
from store.members import member_paths
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
    ALARM = "alarm"  # a device's alarm: a JT/T 808 terminal's SOS


def visible(principal: Principal, event: LiveEvent, path: str | None = None) -> bool:
    """Whether ``principal`` may receive ``event``, its member being in the organisation at
    ``path`` (default: the event's own ``org_path``)."""
    if principal.role is Role.MEMBER:
        return principal.member_id is not None and event.get("member_id") == principal.member_id
    path = path if path is not None else event.get("org_path")
    if isinstance(path, str):
        return principal.can_admin_org(path)
    return principal.whole_tree


def encode(event: LiveEvent) -> str:
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
    bearer: Bearer,
    types: Annotated[
        list[EventType] | None, Query(description="Only these event types (default: all).")
    ] = None,
) -> StreamingResponse:
    """Positions, presence changes and check-ins of the members the caller may see, as they
    happen. The map page's EventSource authenticates with the login cookie. The stream ends
    (``event: end``) within ``sse_recheck_seconds`` of the caller's deactivation, new password,
    role or organisation."""
    state = request.app.state
    token = request_token(request, bearer)
    claims = decode_access_token(state.settings, token) if token else None
    assert claims is not None  # current_user let the request through
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
    watch = _Watch(user, claims, wanted, stream_id)
    settings: Settings = request.app.state.settings
    events = sse_events(request, "live", partial(watch.revoked, settings=settings), watch.admit)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class _Watch:
    """One open stream: who watches, under which token, and whom it has audited so far."""

    def __init__(
        self, user: Principal, claims: TokenClaims, wanted: frozenset[str], stream_id: str
    ) -> None:
        self.user = user
        self.claims = claims
        self.wanted = wanted
        self.stream_id = stream_id
        self.audited: set[int] = set()

    def revoked(self, session: Session, settings: Settings) -> str | None:
        """Why the stream must end now (None: it goes on)."""
        now = principal_for(session, settings, self.claims)
        if now is None:
            return "the user is deactivated or has a new password: log in again"
        if now != self.user:
            return "the user's role or organisation changed: reconnect"
        return None

    def admit(self, session: Session, batch: list[LiveEvent]) -> list[LiveEvent]:
        """The events of ``batch`` the user may see, judged by where their members belong
        now; members not yet audited on this stream are audited (committed) first."""
        chosen = [e for e in batch if e.get("type") in self.wanted]
        if self.user.role is not Role.MEMBER:
            ids = {m for e in chosen if isinstance(m := e.get("member_id"), int)}
            paths = member_paths(session, member_ids=sorted(ids))
            chosen = [e for e in chosen if visible(self.user, e, _current_path(e, paths))]
        else:
            chosen = [e for e in chosen if visible(self.user, e)]
        new = {m for e in chosen if isinstance(m := e.get("member_id"), int)} - self.audited
        if new:
            audit_member_read(
                session, self.user, new, "read_live", detail={"stream": self.stream_id}
            )
            session.commit()
            self.audited |= new
        return chosen


def _current_path(event: LiveEvent, paths: dict[int, str]) -> str | None:
    member = event.get("member_id")
    if isinstance(member, int):
        return paths.get(member, "")  # a member who no longer exists: nobody's ("" is no path)
    return None


async def sse_events(
    request: Request,
    name: str,
    revoked: Callable[[Session], str | None],
    admit: Callable[..., list[LiveEvent]],
) -> AsyncIterator[str]:
    """The live feed as server-sent events: every ``sse_recheck_seconds`` ``revoked`` may end
    it (with its reason), each burst of events goes through ``admit(session, batch=…)``, and a
    keepalive comment is sent when nothing was for ``sse_keepalive_seconds``."""
    state = request.app.state
    settings: Settings = state.settings
    factory: sessionmaker[Session] = state.sessionmaker
    wait_s = min(settings.sse_keepalive_seconds, settings.sse_recheck_seconds)
    now = time.monotonic()
    recheck_at, keepalive_at = (
        now + settings.sse_recheck_seconds,
        now + settings.sse_keepalive_seconds,
    )
    yield f": partymap {name} stream\n\n"
    with state.live.subscribe() as subscription:
        while not await request.is_disconnected():
            first = await subscription.get(timeout=wait_s)
            now = time.monotonic()
            if now >= recheck_at:
                reason = await run_in_threadpool(_read, factory, revoked)
                if reason is not None:
                    yield encode({"type": "end", "reason": reason})
                    return
                recheck_at = now + settings.sse_recheck_seconds
            if first is None:
                if now >= keepalive_at:
                    yield ": keepalive\n\n"
                    keepalive_at = now + settings.sse_keepalive_seconds
                continue
            batch = [first]
            while len(batch) < _BATCH and (more := await subscription.get(timeout=0)) is not None:
                batch.append(more)
            chosen = await run_in_threadpool(_read, factory, partial(admit, batch=batch))
            for event in chosen:
                yield encode(event)
            if chosen:
                keepalive_at = time.monotonic() + settings.sse_keepalive_seconds


def _write(factory: sessionmaker[Session], write: Callable[[Session], Any]) -> None:
    with factory() as session:
        write(session)
        session.commit()


def _read(factory: sessionmaker[Session], read: Callable[[Session], Any]) -> Any:
    with factory() as session:
        return read(session)
