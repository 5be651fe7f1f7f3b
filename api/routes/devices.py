"""``/api/v1/devices``: register receivers, hand them to members, issue and rotate tokens.

(The devices' own endpoint, HTTP ingest of NMEA, is :mod:`api.routes.ingest`.)
"""

from __future__ import annotations

import anyio.from_thread
from fastapi import APIRouter, HTTPException, Request, status

from api.changes import Kind, announce
from api.deps import AdminUser, CurrentUser, DbSession, Pagination
from api.routes import API_PREFIX
from api.schemas.common import DeviceId, MemberFilter, Page, paged
from api.schemas.members import DeviceIn, DeviceOut, DevicePatch, DeviceToken
from api.scope import device_in_scope, member_in_scope
from store import devices
from store.audit import record_audit
from store.models import Device, Role

router = APIRouter(prefix=f"{API_PREFIX}/devices", tags=["devices"])


@router.get("", summary="List devices")
def list_devices(
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    member_id: MemberFilter = None,
) -> Page[DeviceOut]:
    """Devices carried by members in the caller's scope (unassigned ones: whole-tree admins)."""
    if user.role is Role.MEMBER:
        member_id = member_id or user.member_id
    if member_id is not None:
        member_in_scope(session, user, member_id)
    rows: list[Device] = devices.list_devices(
        session,
        within_org_id=None if member_id is not None else user.scope_org_id,
        member_id=member_id,
        limit=params.limit + 1,
        offset=params.offset,
    )
    return paged(DeviceOut, rows, params)


@router.get("/{device_id}", summary="Read a device")
def read_device(device_id: DeviceId, session: DbSession, user: CurrentUser) -> DeviceOut:
    return DeviceOut.model_validate(device_in_scope(session, user, device_id))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register a device")
def create_device(
    body: DeviceIn, session: DbSession, user: AdminUser, request: Request
) -> DeviceOut:
    """Register a receiver, optionally handed to a member at once; issue its token next."""
    _may_assign(session, user, body.member_id)
    device = devices.create_device(
        session,
        uid=body.uid,
        member_id=body.member_id,
        name=body.name,
        protocol=body.protocol.value,
        utc_offset_min=body.utc_offset_min,
        accuracy_m=body.accuracy_m,
    )
    session.commit()
    announce(request, Kind.DEVICES)
    return DeviceOut.model_validate(device)


@router.patch("/{device_id}", summary="Assign or deactivate a device")
def update_device(
    device_id: DeviceId, body: DevicePatch, session: DbSession, user: AdminUser, request: Request
) -> DeviceOut:
    device = device_in_scope(session, user, device_id, write=True)
    if "member_id" in body.model_fields_set:
        _may_assign(session, user, body.member_id)
        device = devices.assign_device(session, device_id=device_id, member_id=body.member_id)
    if body.active is not None:
        device = devices.set_device_active(session, device_id=device_id, active=body.active)
    session.commit()
    if body.active is False:
        _revoke(request, device.uid)
    else:
        announce(request, Kind.DEVICES)
    return DeviceOut.model_validate(device)


@router.post("/{device_id}/token", summary="Issue or rotate a device token")
def issue_token(
    device_id: DeviceId, session: DbSession, user: AdminUser, request: Request
) -> DeviceToken:
    """A new token, shown once; the previous one stops working at once (the device's open
    sessions are closed). A JT/T 808 terminal's token is its authentication code: rotating it
    also lets the terminal register over the air once more (and receive a code of its own)."""
    device = device_in_scope(session, user, device_id, write=True)
    token = devices.issue_device_token(session, device_id=device_id, reopen=True)
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id,
        action="issue_device_token",
        subject_member_id=device.member_id,
        detail={"device_id": device_id, "uid": device.uid},
    )
    session.commit()
    _revoke(request, device.uid)
    assert device.token_issued_at is not None
    return DeviceToken(
        device_id=device.id, uid=device.uid, token=token, issued_at=device.token_issued_at
    )


def _revoke(request: Request, uid: str) -> None:
    """End the device's open ingest sessions at once: this server's daemon, if it runs one,
    and every edge of a cluster (told with the change)."""
    sink = request.app.state.ingest
    if sink is not None:
        anyio.from_thread.run(sink.revoke, uid)
    announce(request, Kind.DEVICES, revoked=[uid])


def _may_assign(session: DbSession, user: AdminUser, member_id: int | None) -> None:
    if member_id is not None:
        member_in_scope(session, user, member_id, write=True)
    elif not user.whole_tree:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="an unassigned device is outside every subtree: give member_id",
        )
