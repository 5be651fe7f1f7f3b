"""Worlds for the ingestion tests: a branch with members, devices, tokens and a site, and the
NMEA a member's receiver sends walking into that site."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from shapely.geometry import Point
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from devkit.simulate import TrackPoint, simulate, walk
from geo.model import SiteParams
from store import devices, members, orgs, sites
from store.models import OrgKind, Position, VisitRow

SITE = (30.5, 114.3)  # lat, lon of the site's centre
OUTSIDE = (30.5, 114.306)  # about 575 m east
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
# A short dwell keeps the walks short.
PARAMS = SiteParams(dwell_s=20.0, exit_after_s=10.0, max_gap_s=300.0)


@dataclass(frozen=True)
class Person:
    member_id: int
    device_id: int
    uid: str
    token: str


@dataclass(frozen=True)
class World:
    org_id: int
    org_path: str
    site_id: int
    people: tuple[Person, ...]


def build_world(engine: Engine, people: int = 2, *, prefix: str = "dtu") -> World:
    with Session(engine) as session:
        committee = orgs.create_organisation(session, name="党委", kind=OrgKind.PARTY_COMMITTEE)
        branch = orgs.create_organisation(
            session, name="一支部", kind=OrgKind.BRANCH, parent_id=committee.id
        )
        site = sites.create_site(
            session,
            org_id=branch.id,
            name="活动室",
            geometry=Point(SITE[1], SITE[0]),
            radius_m=40.0,
            params=PARAMS,
        )
        made = []
        for n in range(people):
            member = members.create_member(session, org_id=branch.id, name=f"党员{n}")
            device = devices.create_device(session, uid=f"{prefix}-{n:04d}", member_id=member.id)
            token = devices.issue_device_token(session, device_id=device.id)
            made.append(Person(member.id, device.id, device.uid, token))
        session.commit()
        return World(branch.id, branch.path, site.id, tuple(made))


def visit_track(start: datetime | None = None, *, stay_s: int = 60) -> list[TrackPoint]:
    """From outside into the site, a stay, and out again: one check-in, one visit. Without a
    ``start`` the walk ends now, as a live device's would (the daemon ends the visits of
    members silent for longer than ``max_gap`` by the clock)."""
    walk_in = walk(start or T0, [OUTSIDE, SITE], speed_mps=20.0)
    there = stay(walk_in[-1], SITE, stay_s)
    walk_out = walk(there[-1].time + timedelta(seconds=1), [SITE, OUTSIDE], speed_mps=20.0)
    track = walk_in + there + walk_out
    return track if start is not None else ending_now(track)


def ending_now(track: list[TrackPoint]) -> list[TrackPoint]:
    """The track moved in time so that its last point is now."""
    shift = datetime.now(UTC).replace(microsecond=0) - track[-1].time
    return [replace(p, time=p.time + shift) for p in track]


def stay(after: TrackPoint, where: tuple[float, float], seconds: int) -> list[TrackPoint]:
    """Standing at ``where`` for ``seconds`` after ``after``, one point a second."""
    return [TrackPoint(after.time + timedelta(seconds=k), *where) for k in range(1, seconds + 1)]


def nmea(track: list[TrackPoint], family: str = "ublox-f9p", *, seed: int = 0) -> bytes:
    return b"".join(line + b"\r\n" for line in simulate(track, family, seed=seed))


def stored(engine: Engine, device_id: int | None = None) -> list[datetime]:
    """Fix times stored (of one device, or all), in id order."""
    with Session(engine) as session:
        stmt = select(Position.fix_time).order_by(Position.id)
        if device_id is not None:
            stmt = stmt.where(Position.device_id == device_id)
        return list(session.scalars(stmt))


def count_positions(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Position)) or 0)


def visits_of(
    engine: Engine, member_id: int
) -> list[tuple[datetime, datetime | None, datetime | None]]:
    with Session(engine) as session:
        rows = session.execute(
            select(VisitRow.start_at, VisitRow.end_at, VisitRow.checkin_at)
            .where(VisitRow.member_id == member_id)
            .order_by(VisitRow.start_at)
        )
        return [tuple(r) for r in rows]
