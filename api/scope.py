"""Scope checks: fetch a row the caller names, or answer as if it did not exist.

Anything outside the caller's scope is a 404 with the same sentence as a row that does not
exist (:class:`store.errors.NotFoundError`), so ids outside the subtree cannot be probed.
``write=True`` asks for the right to change it (admins within their subtree).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.principal import Principal
from geo.model import Meeting, Site
from store.devices import get_device
from store.errors import InvalidValueError, NotFoundError
from store.meetings import get_meeting
from store.members import get_member
from store.models import Device, Member, Organisation, Role
from store.orgs import get_organisation
from store.sites import get_site


def org_in_scope(
    session: Session, user: Principal, org_id: int, *, write: bool = False
) -> Organisation:
    org = get_organisation(session, org_id=org_id)
    if not _org_allows(user, org.path, write):
        raise NotFoundError("organisation", org_id)
    return org


def member_in_scope(
    session: Session, user: Principal, member_id: int, *, write: bool = False
) -> Member:
    """A member whose personal data the caller may read (or, with ``write``, change)."""
    member = get_member(session, member_id=member_id)
    if not _member_allows(user, member, _path(session, member.org_id), write):
        raise NotFoundError("member", member_id)
    return member


def site_in_scope(session: Session, user: Principal, site_id: int, *, write: bool = False) -> Site:
    site = get_site(session, site_id=site_id)
    if not _org_allows(user, _path(session, site.org_id), write):
        raise NotFoundError("site", site_id)
    return site


def meeting_in_scope(
    session: Session, user: Principal, meeting_id: int, *, write: bool = False
) -> Meeting:
    """A meeting the caller may read: an admin's within their subtree; a member's when they
    are on its roll (a meeting of their organisation or of one above it)."""
    meeting = get_meeting(session, meeting_id=meeting_id)
    path = _path(session, meeting.org_id)
    if write or user.role is not Role.MEMBER:
        allowed = _org_allows(user, path, write)
    else:
        allowed = user.org_path is not None and user.org_path.startswith(path)
    if not allowed:
        raise NotFoundError("meeting", meeting_id)
    return meeting


def device_in_scope(
    session: Session, user: Principal, device_id: int, *, write: bool = False
) -> Device:
    """A device carried by a member in scope; unassigned devices belong to the whole tree."""
    device = get_device(session, device_id=device_id)
    if device.member_id is None:
        allowed = user.whole_tree
    else:
        member = get_member(session, member_id=device.member_id)
        allowed = _member_allows(user, member, _path(session, member.org_id), write)
    if not allowed:
        raise NotFoundError("device", device_id)
    return device


def within(session: Session, user: Principal, org_id: int | None) -> int | None:
    """The subtree a list is limited to: ``org_id`` when given (and visible), else the
    caller's scope root (None: the whole tree)."""
    if org_id is not None:
        org_in_scope(session, user, org_id)
        return org_id
    return user.scope_org_id


def _path(session: Session, org_id: int) -> str:
    return get_organisation(session, org_id=org_id).path


def _org_allows(user: Principal, org_path: str, write: bool) -> bool:
    return user.can_admin_org(org_path) if write else user.can_see_org(org_path)


def _member_allows(user: Principal, member: Member, org_path: str, write: bool) -> bool:
    return user.can_admin_org(org_path) if write else user.can_see_member(member.id, org_path)


def meeting_zone(
    *,
    session: Session,
    user: Principal,
    site_id: int | None,
    tz: str | None,
    org_path: str,
    default_tz: str,
) -> str:
    """A meeting's zone: its site's (a site the caller may use: in their scope, or of an
    organisation above the meeting's), else ``tz``, else ``default_tz``."""
    if site_id is None:
        return tz or default_tz
    site = get_site(session, site_id=site_id)
    site_path = get_organisation(session, org_id=site.org_id).path
    if not (user.can_see_org(site_path) or org_path.startswith(site_path)):
        raise NotFoundError("site", site_id)
    if tz is not None and tz != site.tz:
        raise InvalidValueError(
            f"a meeting at site {site_id} is held in the site's time zone ({site.tz}), not {tz}"
        )
    return site.tz


def check_person(session: Session, user: Principal, member_id: int | None, org_path: str) -> None:
    """A host or recorder: a member the caller may see, or one of an organisation above the
    meeting's (a committee member giving a branch's party lecture)."""
    if member_id is None:
        return
    member = get_member(session, member_id=member_id)
    path = session.get(Organisation, member.org_id)
    member_path = path.path if path is not None else ""
    if not (user.can_see_member(member_id, member_path) or org_path.startswith(member_path)):
        raise NotFoundError("member", member_id)
