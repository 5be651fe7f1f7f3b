"""One click deeper: a branch with its members and sites, a member with their track and
check-ins (一点到支部、一点到党员), and meetings with live attendance.

Like :mod:`maps.overview`, every function takes the caller's scope and raises
:class:`~store.errors.NotFoundError` for anything outside it (as for something that does not
exist: no leak of what is there), and returns the members whose personal data it reveals.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

import numpy as np
from shapely.geometry import mapping
from sqlalchemy.orm import Session

from geo.model import AttendanceOutcome, Site
from maps.overview import Payload, org_bounds, org_row
from maps.snapshot import ORG_KINDS, STATE_NAMES, Roster, Scope
from store.attendance import attendance_sheet
from store.errors import NotFoundError
from store.latest import latest_positions
from store.meetings import MeetingInfo, Summary, find_meetings, get_meeting
from store.presence import list_presence
from store.query import BBox
from store.sites import get_site, list_sites
from store.tracks import track
from store.visits import list_checkins

MEMBERS_LISTED = 500
SITES_DRAWN = 300
TRACK_POINTS = 2000
MEETINGS_LISTED = 50


def org_detail(session: Session, roster: Roster, scope: Scope, *, org_id: int) -> Payload:
    """An organisation: its chain of parents, bounds, sites (GeoJSON) and the members of its
    subtree with their state, most present first.

    ``members``: ``{member_id, name, org_id, org, state, site_id, site, lon, lat, accuracy_m,
    fix_time}``, at most ``MEMBERS_LISTED`` of ``members_total``.
    """
    o = roster.orgs
    row = org_row(roster, scope, org_id)
    chain = [int(p) for p in str(o.path[row]).strip("/").split("/")]
    breadcrumbs = [
        {"id": i, "name": o.name[o.index[i]]}
        for i in chain
        if scope.covers(str(o.path[o.index[i]]))
    ]
    m = roster.members
    # What of the subtree the caller may see: a member, their own organisation only (as
    # GET /api/v1/sites answers them), not its party groups below.
    subtree = o.subtree_mask(row) & o.in_scope(scope)
    rows = np.flatnonzero(subtree[m.org] & m.in_scope(scope, o.in_scope(scope)))
    # Most present first, then by name: the list reads as "who is here".
    order = sorted(rows.tolist(), key=lambda r: (-int(m.state[r]), m.name[r]))
    listed = order[:MEMBERS_LISTED]
    members = [_member_row(roster, r) for r in listed]
    if scope.member_id is None:
        sites = list_sites(session, within_org_id=org_id, limit=SITES_DRAWN)
    else:
        sites = list_sites(session, org_id=org_id, limit=SITES_DRAWN)
    body = {
        "org": {"id": org_id, "name": o.name[row], "kind": ORG_KINDS[o.kind[row]].value},
        "breadcrumbs": breadcrumbs,
        "bounds": org_bounds(roster, scope, row),
        "sites": site_features(sites),
        "sites_total": int(np.count_nonzero(subtree[roster.sites.org])),
        "members": members,
        "members_total": len(order),
        "states": dict(
            zip(
                STATE_NAMES,
                (int(v) for v in np.bincount(m.state[rows], minlength=len(STATE_NAMES))),
                strict=True,
            )
        ),
    }
    placed = [r["member_id"] for r in members if r["lon"] is not None]
    return Payload(body, tuple(placed))


def member_detail(
    session: Session,
    roster: Roster,
    scope: Scope,
    *,
    member_id: int,
    now: datetime,
    hours: float,
    day: date | None = None,
    track_points: int = TRACK_POINTS,
) -> Payload:
    """A member: where they are, their track over the last ``hours`` or over one ``day`` of
    their time zone (thinned to at most ``track_points`` points: ``[lon, lat, unix seconds]``)
    and their recent check-ins.

    ``tz``: the member's time zone (see :func:`member_tz`; null when nothing says), in which
    their times are shown; each check-in carries its site's ``tz``.
    """
    m = roster.members
    row = m.row(member_id)
    if row is None or not scope.sees_member(member_id, str(roster.orgs.path[m.org[row]])):
        raise NotFoundError("member", member_id)
    tz = member_tz(roster, row)
    if day is None:
        start, end = now - timedelta(hours=hours), now
    else:
        zone = ZoneInfo(tz or "UTC")
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    points = track(session, member_id=member_id, start=start, end=end)
    stride = max(1, -(-len(points) // track_points))
    kept = points[::stride]
    if points and kept[-1] is not points[-1]:
        kept.append(points[-1])  # the track always ends where the member is
    latest = latest_positions(session, member_ids=[member_id])
    checkins = [
        {
            "site_id": v.site_id,
            "site": roster_site_name(roster, v.site_id),
            "tz": roster_site_tz(roster, v.site_id),
            "start": _iso(v.start_at),
            "checkin_at": _iso(v.checkin_at),
            "end": _iso(v.end_at),
            "beidou_verified": v.beidou_verified,
        }
        for v in list_checkins(session, member_id=member_id, limit=30)
    ]
    presence = [
        {"site_id": p.site_id, "site": roster_site_name(roster, p.site_id), "state": p.state,
         "tz": roster_site_tz(roster, p.site_id), "since": _iso(p.since),
         "checkin_at": _iso(p.checkin_at)}
        for p in list_presence(session, member_ids=[member_id])
    ]  # fmt: skip
    body = {
        "member": _member_row(roster, row),
        "latest": None
        if not latest
        else {
            "fix_time": _iso(latest[0].fix_time),
            "lon": latest[0].lon,
            "lat": latest[0].lat,
            "accuracy_m": latest[0].accuracy_m,
            "sats_used": latest[0].sats_used,
            "sats_beidou": latest[0].sats_beidou,
            "hdop": latest[0].hdop,
        },
        "tz": tz,
        "presence": presence,
        "track": {
            "day": day.isoformat() if day is not None else None,
            "start": _iso(start),
            "end": _iso(end),
            "fixes": len(points),
            "points": [
                [round(p.lon, 6), round(p.lat, 6), int(p.fix_time.timestamp())] for p in kept
            ],
        },
        "checkins": checkins,
    }
    return Payload(body, (member_id,))


def meetings(session: Session, roster: Roster, scope: Scope, *, now: datetime) -> dict[str, Any]:
    """Meetings of the caller's organisations from a day ago to two weeks ahead."""
    orgs = _org_filter(scope)
    found = find_meetings(
        session,
        within_org_id=orgs["within_org_id"],
        org_ids=None if orgs["org_id"] is None else (orgs["org_id"],),
        start=now - timedelta(days=1),
        end=now + timedelta(days=14),
        limit=MEETINGS_LISTED,
    )
    return {"meetings": [meeting_summary(session, roster, info, now) for info in found]}


def meeting_panel(
    session: Session, roster: Roster, scope: Scope, *, meeting_id: int, now: datetime
) -> Payload:
    """A meeting with each expected member's attendance as it stands at ``now``
    (:func:`store.attendance.attendance_sheet`: leave and corrections included).

    Before the meeting ends, a member not yet checked in is ``pending`` (or ``arriving`` when
    already inside the site) rather than absent. ``roll``: ``{member_id, name, outcome,
    automatic, evidence, first_checkin, last_leave, leave, correction}``: ``outcome`` is the
    status that counts (in the attendance vocabulary), ``automatic`` the decision from visits
    and leave kept beside a correction (补签), ``leave`` ``{status, reason}`` and
    ``correction`` ``{old, new, reason, by, at}`` or null. ``summary``: 应到 / 实到 / each
    status / 出席率 as they stand (members still pending count as absent).
    """
    meeting = get_meeting(session, meeting_id=meeting_id)
    row = roster.orgs.index.get(meeting.org_id)
    if row is None or not scope.covers(str(roster.orgs.path[row])):
        raise NotFoundError("meeting", meeting_id)
    sheet = attendance_sheet(session, meeting_id=meeting_id, now=now)
    entries_seen = [e for e in sheet.entries if scope.member_id in (None, e.member_id)]
    expected = [e.member_id for e in entries_seen]
    arriving: set[int] = set()
    if meeting.site_id is not None:
        arriving = {
            p.member_id
            for p in list_presence(session, member_ids=expected, site_id=meeting.site_id)
        }
    entries: list[dict[str, Any]] = []
    for e in entries_seen:
        outcome = e.status.value
        if e.status is AttendanceOutcome.PENDING and e.member_id in arriving:
            outcome = "arriving"
        r = roster.members.row(e.member_id)
        entries.append(
            {
                "member_id": e.member_id,
                "name": roster.members.name[r] if r is not None else f"#{e.member_id}",
                "outcome": outcome,
                "automatic": e.outcome.value,
                "evidence": e.evidence.value if e.evidence else None,
                "first_checkin": _iso(e.first_checkin),
                "last_leave": _iso(e.last_leave),
                "leave": None
                if e.leave is None
                else {"status": e.leave.status.value, "reason": e.leave.reason},
                "correction": None
                if e.correction is None
                else {
                    "old": e.correction.old_status.value,
                    "new": e.correction.new_status.value,
                    "reason": e.correction.reason,
                    "by": e.correction.actor,
                    "at": _iso(e.correction.at),
                },
            }
        )
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    body = {
        "meeting": meeting_summary(session, roster, sheet.info, now),
        "roll": entries,
        "counts": counts,
        "summary": _summary(sheet.summary()) if scope.member_id is None else None,
    }
    return Payload(body, tuple(expected))


def _summary(summary: Summary) -> dict[str, Any]:
    return {
        "expected": summary.expected,
        "attended": summary.attended,
        "present": summary.present,
        "late": summary.late,
        "left_early": summary.left_early,
        "absent": summary.absent,
        "excused": summary.excused,
        "rate": summary.rate,
    }


def shapes_in_view(session: Session, scope: Scope, *, bbox: BBox) -> dict[str, Any]:
    """The outlines of the caller's sites overlapping ``bbox`` (at most ``SITES_DRAWN``)."""
    return site_features(list_sites(session, **_org_filter(scope), bbox=bbox, limit=SITES_DRAWN))


def site_features(sites: list[Site]) -> dict[str, Any]:
    """Sites as a GeoJSON FeatureCollection; a circle is a Point with ``radius_m``."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": s.id,
                "geometry": mapping(s.geometry),
                "properties": {
                    "name": s.name,
                    "kind": s.kind.value,
                    "org_id": s.org_id,
                    "radius_m": s.radius_m,
                    "tz": s.tz,
                },
            }
            for s in sites
        ],
    }


def member_tz(roster: Roster, row: int) -> str | None:
    """The time zone a member's times are shown in: that of the site they are at, else of the
    sites of their organisation or, failing that, of its nearest parent with sites."""
    m, s, o = roster.members, roster.sites, roster.orgs
    site = int(m.site_id[row])
    if site >= 0:
        return roster_site_tz(roster, site)
    org = int(m.org[row])
    while org >= 0:
        own = np.flatnonzero(s.org == org)
        if len(own):
            return s.tz[int(own[0])]
        org = int(o.parent[org])
    return None


def roster_site_tz(roster: Roster, site_id: int) -> str | None:
    s = roster.sites
    row = int(np.searchsorted(s.id, site_id))
    if row < len(s.id) and s.id[row] == site_id:
        return s.tz[row]
    return None


def roster_site_name(roster: Roster, site_id: int) -> str:
    s = roster.sites
    row = int(np.searchsorted(s.id, site_id))
    if row < len(s.id) and s.id[row] == site_id:
        return s.name[row]
    return f"#{site_id}"


def meeting_summary(
    session: Session, roster: Roster, info: MeetingInfo, now: datetime
) -> dict[str, Any]:
    """A meeting as the dashboard lists it: names, zone, the site's centre, state now."""
    meeting = info.meeting
    site = get_site(session, site_id=meeting.site_id) if meeting.site_id is not None else None
    row = roster.orgs.index.get(meeting.org_id)
    centre = site.geometry.centroid if site is not None else None
    return {
        "id": meeting.id,
        "title": meeting.title,
        "kind": meeting.kind.value,
        "org_id": meeting.org_id,
        "org": roster.orgs.name[row] if row is not None else "",
        "site_id": meeting.site_id,
        "site": site.name if site is not None else None,
        "tz": info.tz,
        "lon": round(centre.x, 6) if centre is not None else None,
        "lat": round(centre.y, 6) if centre is not None else None,
        "start": _iso(meeting.start),
        "end": _iso(meeting.end),
        "status": info.state(now).value,
        "topic": info.topic,
        "host_member_id": info.host_member_id,
        "host": _name(roster, info.host_member_id),
        "recorder_member_id": info.recorder_member_id,
        "recorder": _name(roster, info.recorder_member_id),
        "plan_id": info.plan_id,
        "recorded_at": _iso(info.recorded_at),
        "cancel_reason": info.cancel_reason,
    }


def _name(roster: Roster, member_id: int | None) -> str | None:
    if member_id is None:
        return None
    row = roster.members.row(member_id)
    return roster.members.name[row] if row is not None else f"#{member_id}"


def _member_row(roster: Roster, row: int) -> dict[str, Any]:
    m = roster.members
    placed = not np.isnan(m.lon[row])
    site = int(m.site_id[row])
    return {
        "member_id": int(m.id[row]),
        "name": m.name[row],
        "org_id": int(roster.orgs.id[m.org[row]]),
        "org": roster.orgs.name[m.org[row]],
        "state": STATE_NAMES[m.state[row]],
        "site_id": site if site >= 0 else None,
        "site": roster_site_name(roster, site) if site >= 0 else None,
        "lon": round(float(m.lon[row]), 6) if placed else None,
        "lat": round(float(m.lat[row]), 6) if placed else None,
        "accuracy_m": None if np.isnan(m.accuracy_m[row]) else round(float(m.accuracy_m[row]), 1),
        "fix_time": str(m.fix_time[row]) + "Z" if placed else None,
    }


class _OrgFilter(TypedDict):
    within_org_id: int | None
    org_id: int | None


def _org_filter(scope: Scope) -> _OrgFilter:
    """Repository filters for the caller's organisations: a subtree, or a member's own one."""
    if scope.member_id is None:
        return {"within_org_id": scope.org_id, "org_id": None}
    return {"within_org_id": None, "org_id": scope.org_id}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
