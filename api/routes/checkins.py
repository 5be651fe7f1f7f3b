"""Members check in at a meeting from their phones: with its position, or the meeting's code.

* ``POST /api/v1/me/phone``: the member page names its phone; the first one is bound to the
  member, another waits for a secretary (``GET /api/v1/phones``, ``POST …/approve``).
* ``POST /api/v1/meetings/{id}/checkins/phone``: positions from the browser, while the page
  is checking in. They take the receivers' time and motion rules and the phone's own
  (:mod:`geo.quality.phone`), are stored as positions of source ``phone`` whatever the verdict, and
  the first accepted one inside the site (membership with its accuracy, as for receivers)
  checks the member in, timed at that fix — a check-in queued offline keeps its time.
* ``GET /api/v1/meetings/{id}/qr``: the secretary's screen shows the rotating code
  (:mod:`api.qrcode`); ``POST /api/v1/meetings/{id}/checkins/qr`` takes it back from the
  member's phone, with the member's last good fix near the site as added evidence.

The site's evidence policy decides what counts; one check-in per member and meeting. Every
refusal (unbound phone, rejected position, outside the site, a bad code, not on the roll) is
answered with a sentence saying why and audited (``checkin_refused``); attempts are limited per
member (``checkin_max_per_minute``, 429).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import qrcode
from api.changes import Kind, announce
from api.deps import (
    AdminUser,
    AppSettings,
    CurrentUser,
    DbSession,
    Pagination,
    Principal,
    audit_member_read,
    require_role,
)
from api.routes import API_PREFIX
from api.schemas.checkins import (
    CheckinOut,
    PhoneCheckinIn,
    PhoneIn,
    PhoneOut,
    QrCheckinIn,
    QrOut,
)
from api.schemas.common import MAX_ID, DeviceId, MeetingId, MemberFilter, Page
from api.scope import meeting_in_scope, member_in_scope, within
from geo.model import EvidenceKind, Meeting, QualityThresholds
from geo.quality.phone import PhoneFix, check_phone_fixes
from geo.quality.rules import DeviceTrack
from geo.sites.membership import SiteIndex
from geo.sites.shapes import distance_m
from store import checkins, phones
from store.audit import record_audit
from store.errors import ConflictError, NotFoundError
from store.login_counters import count_attempt
from store.meetings import get_meeting, meeting_row
from store.members import get_member
from store.models import LatestPosition, MeetingStatus, Position, Role
from store.positions import NewPosition, PositionBatch, write_positions
from store.qr import current_key
from store.sites import get_site
from store.types import utcnow

router = APIRouter(prefix=API_PREFIX, tags=["check-in"])
_NOT_OPEN: dict[int | str, dict[str, Any]] = {
    409: {"description": "The meeting is cancelled, has no site, or is not open for check-in."}
}
_CHECKIN_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "A member's login only; this phone is not bound to the member."},
    409: {
        "description": "The site's evidence policy does not take this check-in, the meeting "
        "is not open, or the member has already checked in."
    },
    422: {
        "description": "The positions were rejected (the rules are named), fell outside the "
        "site, or the code is expired or not this meeting's."
    },
    429: {"description": "Too many check-in attempts: wait `Retry-After` seconds."},
}
MemberUser = Annotated[Principal, Depends(require_role(Role.MEMBER))]
NEAR_FIX_MAX_AGE = timedelta(minutes=30)


# -- phones -------------------------------------------------------------------------------------


def _phone_out(session: Session, p: phones.Phone) -> PhoneOut:
    name = get_member(session, member_id=p.member_id).name if p.member_id else None
    return PhoneOut(
        device_id=p.device_id,
        member_id=p.member_id,
        member_name=name,
        state=p.state,
        created_at=p.created_at,
        bound_at=p.bound_at,
    )


@router.post(
    "/me/phone",
    summary="Name this phone (bound at first use)",
    responses={403: {"description": "A member's login only."}},
)
def use_phone(body: PhoneIn, session: DbSession, user: MemberUser, request: Request) -> PhoneOut:
    """The member's first phone is bound at once; another one is recorded and waits for a
    secretary's approval (``state`` says which)."""
    member_id = _member_id(user)
    found = phones.use_phone(session, member_id=member_id, uid=body.phone_id)
    if found.state is phones.PhoneState.FOREIGN:
        raise NotFoundError("phone", body.phone_id)
    session.commit()
    announce(request, Kind.DEVICES)
    return _phone_out(session, found)


@router.get("/phones", summary="Members' phones (waiting ones to approve)")
def list_phones(
    *,
    session: DbSession,
    user: AdminUser,
    params: Pagination,
    member_id: MemberFilter = None,
    pending: Annotated[bool, Query(description="Only phones waiting for approval.")] = False,
) -> Page[PhoneOut]:
    """Phones of members in the caller's subtree, newest first."""
    if member_id is not None:
        member_in_scope(session, user, member_id)
    found = phones.list_phones(
        session,
        within_org_id=within(session, user, None),
        member_id=member_id,
        pending_only=pending,
        limit=params.limit + 1,
        offset=params.offset,
    )
    return Page[PhoneOut](
        items=[_phone_out(session, p) for p in found[: params.limit]],
        limit=params.limit,
        offset=params.offset,
        next_offset=params.offset + params.limit if len(found) > params.limit else None,
    )


@router.post("/phones/{device_id}/approve", summary="Approve a member's new phone")
def approve_phone(
    device_id: DeviceId, session: DbSession, user: AdminUser, request: Request
) -> PhoneOut:
    """The phone is bound to its member and their previous phone retired (409 unless it was
    waiting)."""
    _, path = phones.phone_org_path(session, device_id=device_id)
    if not user.can_admin_org(path):
        raise NotFoundError("phone", device_id)
    approved = phones.approve_phone(session, device_id=device_id)
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id or None,
        action="approve_phone",
        subject_member_id=approved.member_id,
        detail={"device_id": device_id},
    )
    session.commit()
    announce(request, Kind.DEVICES)
    return _phone_out(session, approved)


# -- check-ins ----------------------------------------------------------------------------------


@router.post(
    "/meetings/{meeting_id}/checkins/phone",
    status_code=status.HTTP_201_CREATED,
    summary="Check in with the phone's position",
    responses=_CHECKIN_REFUSALS,
)
def phone_checkin(
    *,
    meeting_id: MeetingId,
    body: PhoneCheckinIn,
    session: DbSession,
    settings: AppSettings,
    user: MemberUser,
) -> CheckinOut:
    """The positions are judged in order; the first accepted one inside the meeting's site
    checks the member in at its own time. 422 names the rules the positions failed, or how far
    outside the site they were; 403 for a phone not bound to the member; 409 when the site's
    policy does not take phone positions, the meeting is not open, or the member has already
    checked in."""
    member_id = _member_id(user)
    _throttle(session, settings, user)
    meeting, site_id = _open_meeting(session, user, meeting_id, EvidenceKind.PHONE)
    phone = _bound_phone(session, user, meeting_id, body.phone_id, EvidenceKind.PHONE)
    now = utcnow()
    fixes = [
        PhoneFix(
            f.time.astimezone(UTC), f.lat, f.lon, f.accuracy_m, f.speed_mps, f.course_deg, f.alt_m
        )
        for f in sorted(body.fixes, key=lambda f: f.time)
    ]
    reasons, _ = check_phone_fixes(
        fixes, _track(session, member_id, phone.device_id), QualityThresholds(), now
    )
    write_positions(
        session,
        batch=PositionBatch.from_positions(
            NewPosition(phone.device_id, member_id, f.as_fix(now), now, "phone", r)
            for f, r in zip(fixes, reasons, strict=True)
        ),
    )
    site = get_site(session, site_id=site_id)
    index = SiteIndex.build([site])
    accepted = [f for f, r in zip(fixes, reasons, strict=True) if not r]
    if not accepted:
        names = sorted({n for r in reasons for n in r})
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the phone's position was rejected by the rules: {', '.join(names)}",
            "rejected",
            rules=names,
        )
    inside = [
        f
        for f in accepted
        if any(m.inside for m in index.memberships_of(f.lat, f.lon, f.accuracy_m))
    ]
    if not inside:
        nearest = min(_distance(index, f.lat, f.lon) for f in accepted)
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the phone is outside the meeting's site {site.name!r}: about {nearest:.0f} m away",
            "outside",
            distance_m=round(nearest, 1),
        )
    first = inside[0]
    if not meeting.start - meeting.early <= first.time < meeting.end:
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_409_CONFLICT,
            "the position was taken while the meeting was not open for check-in",
            "not_open",
        )
    return _record(
        session,
        user,
        meeting_id,
        site_id,
        evidence=EvidenceKind.PHONE,
        at=first.time,
        now=now,
        device_id=phone.device_id,
        lat=first.lat,
        lon=first.lon,
        accuracy_m=first.accuracy_m,
        detail={"fixes": len(fixes), "accepted": len(accepted)},
    )


@router.post(
    "/meetings/{meeting_id}/checkins/qr",
    status_code=status.HTTP_201_CREATED,
    summary="Check in with the meeting's code",
    responses=_CHECKIN_REFUSALS,
)
def qr_checkin(
    *,
    meeting_id: MeetingId,
    body: QrCheckinIn,
    session: DbSession,
    settings: AppSettings,
    user: MemberUser,
) -> CheckinOut:
    """The code shown on the secretary's screen, as the phone's camera opened it: good during
    its 30 s and the next 30 s, for this meeting only. 422 for an expired or wrong code; 403
    for a phone not bound to the member; 409 when the site takes receivers only, the meeting
    is not open, or the member has already checked in."""
    member_id = _member_id(user)
    _throttle(session, settings, user)
    _, site_id = _open_meeting(session, user, meeting_id, EvidenceKind.QR)
    phone = _bound_phone(session, user, meeting_id, body.phone_id, EvidenceKind.QR)
    now = utcnow()
    verdict = qrcode.verdict(
        current_key(session), meeting_id, body.step, body.code, now_s=now.timestamp()
    )
    if verdict != "ok":
        message = {
            "expired": "the code has expired: scan the code on the screen again",
            "not_yet": "the code is not valid yet: check the phone's clock and scan again",
            "wrong_code": "the code is not this meeting's: scan the code on the meeting's screen",
        }[verdict]
        _refuse(session, user, meeting_id, status.HTTP_422_UNPROCESSABLE_CONTENT, message, verdict)
    near = _near_fix(session, member_id, site_id, now)
    return _record(
        session,
        user,
        meeting_id,
        site_id,
        evidence=EvidenceKind.QR,
        at=now,
        now=now,
        device_id=phone.device_id,
        lat=None,
        lon=None,
        accuracy_m=None,
        detail={"step": body.step, **({"near_fix": near} if near else {})},
    )


@router.get("/meeting-checkins", summary="Check-ins made from phones")
def list_checkins(
    *,
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    member_id: MemberFilter = None,
    meeting_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this meeting.")
    ] = None,
) -> Page[CheckinOut]:
    """A member's own (``member_id`` defaults to the caller's); an admin names a member of
    their subtree, or a meeting of it. Audited per member (``read_checkins``)."""
    if member_id is None and meeting_id is None:
        if user.member_id is None:
            raise NotFoundError("member", member_id)
        member_id = user.member_id
    if member_id is not None:
        member_in_scope(session, user, member_id)
    if meeting_id is not None:
        meeting_in_scope(session, user, meeting_id)
        if user.role is Role.MEMBER:
            member_id = user.member_id
        else:
            meeting_in_scope(session, user, meeting_id, write=True)
    found = checkins.list_meeting_checkins(
        session,
        member_id=member_id,
        meeting_id=meeting_id,
        limit=params.limit + 1,
        offset=params.offset,
    )
    page = found[: params.limit]
    audit_member_read(session, user, [c.member_id for c in page], "read_checkins")
    session.commit()
    return Page[CheckinOut](
        items=[_out(c) for c in page],
        limit=params.limit,
        offset=params.offset,
        next_offset=params.offset + params.limit if len(found) > params.limit else None,
    )


# -- the meeting's code -------------------------------------------------------------------------


def _code_now(session: Session, user: Principal, meeting_id: int) -> tuple[int, str]:
    meeting_in_scope(session, user, meeting_id, write=True)
    row_meeting, _ = _meeting_open(session, meeting_id)
    step = qrcode.step_of(time.time())
    code = qrcode.code_for(current_key(session), row_meeting.id, step)
    session.commit()  # the deployment's key, if this made it
    return step, code


@router.get(
    "/meetings/{meeting_id}/qr", summary="The meeting's rotating check-in code", responses=_NOT_OPEN
)
def read_qr(meeting_id: MeetingId, request: Request, session: DbSession, user: AdminUser) -> QrOut:
    """For the secretary's screen while the meeting is open for check-in (from ``early``
    before its start to its end; 409 otherwise): show ``svg`` and ask again after
    ``refresh_s``."""
    step, code = _code_now(session, user, meeting_id)
    url = qrcode.checkin_url(str(request.base_url), meeting_id, step, code)
    ends = (step + 1) * qrcode.STEP_S
    return QrOut(
        meeting_id=meeting_id,
        url=url,
        step=step,
        expires_at=datetime.fromtimestamp(ends + qrcode.STEP_S, UTC),
        refresh_s=max(ends - time.time(), 0.5),
        svg=qrcode.qr_svg(url).decode(),
    )


@router.get(
    "/meetings/{meeting_id}/qr.svg",
    summary="The meeting's code as an SVG image",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **_NOT_OPEN},
)
def read_qr_svg(
    meeting_id: MeetingId, request: Request, session: DbSession, user: AdminUser
) -> Response:
    return _qr_image(
        session,
        user,
        meeting_id=meeting_id,
        request=request,
        draw=qrcode.qr_svg,
        media_type="image/svg+xml",
    )


@router.get(
    "/meetings/{meeting_id}/qr.png",
    summary="The meeting's code as a PNG image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **_NOT_OPEN},
)
def read_qr_png(
    meeting_id: MeetingId, request: Request, session: DbSession, user: AdminUser
) -> Response:
    return _qr_image(
        session,
        user,
        meeting_id=meeting_id,
        request=request,
        draw=qrcode.qr_png,
        media_type="image/png",
    )


def _qr_image(
    session: Session,
    user: Principal,
    *,
    meeting_id: int,
    request: Request,
    draw: Callable[[str], bytes],
    media_type: str,
) -> Response:
    """The code in force now, drawn by ``draw``; never cached (it changes every step)."""
    step, code = _code_now(session, user, meeting_id)
    url = qrcode.checkin_url(str(request.base_url), meeting_id, step, code)
    return Response(draw(url), media_type=media_type, headers={"Cache-Control": "no-store"})


# -- helpers ------------------------------------------------------------------------------------


def _member_id(user: Principal) -> int:
    if user.member_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this login is not a member's")
    return user.member_id


def _throttle(session: Session, settings: Any, user: Principal) -> None:
    key = hashlib.sha256(f"partymap checkin\0{user.user_id}".encode()).hexdigest()
    # Counted in the request's own transaction, committed with its answer (a check-in, or a
    # refusal and its audit entry): one commit a request, not two.
    wait = count_attempt(
        session, key=key, limit=settings.checkin_max_per_minute, window_s=60.0, now_s=time.time()
    )
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many check-in attempts: try again in {wait:.0f} s",
            headers={"Retry-After": str(int(wait + 0.999))},
        )


def _meeting_open(session: Session, meeting_id: int) -> tuple[Meeting, int]:
    row = meeting_row(session, meeting_id)
    meeting = get_meeting(session, meeting_id=meeting_id)
    now = utcnow()
    if row.status is MeetingStatus.CANCELLED:
        raise ConflictError(f"meeting {meeting_id} is cancelled")
    if meeting.site_id is None:
        raise ConflictError(f"meeting {meeting_id} has no site: attendance is taken by hand")
    if not meeting.start - meeting.early <= now < meeting.end:
        raise ConflictError(f"meeting {meeting_id} is not open for check-in now")
    return meeting, meeting.site_id


def _open_meeting(
    session: Session, user: Principal, meeting_id: int, evidence: EvidenceKind
) -> tuple[Meeting, int]:
    """The meeting, on the member's roll, whose site takes this evidence."""
    try:
        meeting_in_scope(session, user, meeting_id)
    except NotFoundError:
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_404_NOT_FOUND,
            f"meeting {meeting_id} not found among your meetings",
            "not_on_roll",
        )
    meeting = get_meeting(session, meeting_id=meeting_id)
    if meeting_row(session, meeting_id).status is MeetingStatus.CANCELLED:
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_409_CONFLICT,
            f"meeting {meeting_id} is cancelled",
            "cancelled",
        )
    if meeting.site_id is None:
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_409_CONFLICT,
            "this meeting has no site: the secretary records attendance by hand",
            "no_site",
        )
    policy = checkins.site_policy(session, site_id=meeting.site_id)
    if not policy.admits(evidence):
        needs = (
            "a BeiDou receiver"
            if policy.value == "beidou"
            else "a BeiDou receiver or the meeting's code (扫码)"
        )
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_409_CONFLICT,
            f"this meeting's site counts {needs} only",
            "policy",
            policy=policy.value,
        )
    if evidence is EvidenceKind.QR and not (
        meeting.start - meeting.early <= utcnow() < meeting.end
    ):
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_409_CONFLICT,
            "the meeting is not open for check-in now",
            "not_open",
        )
    return meeting, meeting.site_id


def _bound_phone(
    session: Session, user: Principal, meeting_id: int, uid: str, evidence: EvidenceKind
) -> phones.Phone:
    found = phones.use_phone(session, member_id=_member_id(user), uid=uid)
    if found.state is not phones.PhoneState.BOUND:
        message = {
            phones.PhoneState.PENDING: "this phone is not bound to you yet: your secretary "
            "must approve it (新手机需书记审批)",
            phones.PhoneState.RETIRED: "this phone was replaced by a newer one of yours",
            phones.PhoneState.FOREIGN: "this phone is bound to another member",
        }[found.state]
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_403_FORBIDDEN,
            message,
            f"phone_{found.state.value}",
            evidence=evidence.value,
        )
    return found


def _refuse(  # noqa: PLR0917  (code, message, reason: one call per refusal, read in order)
    session: Session,
    user: Principal,
    meeting_id: int,
    code: int,
    message: str,
    why: str,
    **detail: Any,
) -> NoReturn:
    """Audit the refusal (with whatever the request stored) and answer it."""
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id or None,
        action="checkin_refused",
        subject_member_id=user.member_id,
        detail={"meeting_id": meeting_id, "reason": why, **detail},
    )
    session.commit()
    raise HTTPException(code, detail=message)


def _record(
    session: Session,
    user: Principal,
    meeting_id: int,
    site_id: int,
    *,
    evidence: EvidenceKind,
    at: datetime,
    now: datetime,
    device_id: int,
    lat: float | None,
    lon: float | None,
    accuracy_m: float | None,
    detail: dict[str, Any],
) -> CheckinOut:
    member_id = _member_id(user)
    try:
        found = checkins.record_meeting_checkin(
            session,
            meeting_id=meeting_id,
            member_id=member_id,
            site_id=site_id,
            evidence=evidence,
            at=at,
            received_at=now,
            device_id=device_id,
            lat=lat,
            lon=lon,
            accuracy_m=accuracy_m,
            detail=detail,
        )
    except ConflictError:
        _refuse(
            session,
            user,
            meeting_id,
            status.HTTP_409_CONFLICT,
            "you have already checked in at this meeting",
            "already",
        )
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id or None,
        action=f"checkin_{evidence.value}",
        subject_member_id=member_id,
        detail={"meeting_id": meeting_id},
    )
    session.commit()
    return _out(found)


def _out(c: checkins.MeetingCheckin) -> CheckinOut:
    near = (c.detail or {}).get("near_fix")
    return CheckinOut(
        id=c.id,
        meeting_id=c.meeting_id,
        member_id=c.member_id,
        site_id=c.site_id,
        evidence=c.evidence,
        at=c.at,
        received_at=c.received_at,
        lat=c.lat,
        lon=c.lon,
        accuracy_m=c.accuracy_m,
        near_fix=near if isinstance(near, dict) else None,
    )


def _track(session: Session, member_id: int, device_id: int) -> DeviceTrack:
    """The phone's last accepted fix (what stale, duplicate and speed compare against)."""
    row = session.execute(
        select(Position.fix_time, Position.lat, Position.lon)
        .where(
            Position.member_id == member_id,
            Position.device_id == device_id,
            Position.rejections.is_(None),
        )
        .order_by(Position.fix_time.desc())
        .limit(1)
    ).first()
    if row is None or row.lat is None or row.lon is None:
        return DeviceTrack()
    return DeviceTrack(row.fix_time.timestamp(), row.lat, row.lon)


def _near_fix(
    session: Session, member_id: int, site_id: int, now: datetime
) -> dict[str, Any] | None:
    """The member's latest good fix (receiver or phone) if recent and at the site."""
    latest = session.get(LatestPosition, member_id)
    if latest is None or now - latest.fix_time > NEAR_FIX_MAX_AGE:
        return None
    site = get_site(session, site_id=site_id)
    inside = SiteIndex.build([site]).memberships_of(latest.lat, latest.lon, latest.accuracy_m)
    if not any(m.inside for m in inside):
        return None
    return {
        "time": latest.fix_time.isoformat(),
        "lat": latest.lat,
        "lon": latest.lon,
        "accuracy_m": latest.accuracy_m,
        "sats_beidou": latest.sats_beidou,
    }


def _distance(index: SiteIndex, lat: float, lon: float) -> float:
    """Metres from the index's one site (0 inside it)."""
    shape = index.shapes[0]
    return distance_m(shape, *shape.frame.to_local(lon, lat))
