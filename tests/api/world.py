"""A small organisation tree with every kind of row, for authorisation and route tests.

::

    C1 committee (committee admin "com")      C2 committee          (whole tree: "root")
     └─ G1 general branch                       └─ B3 branch: M4      (outside)
         ├─ B1 branch: M1 (member "mem"), M2    (self, peer; branch admin "ba")
         └─ B2 branch: M3                       (sibling; branch admin "ba2")

Every member has a device with a token, accepted fixes (latest position and a track), a
check-in at their branch's site, and their branch a meeting there. Names carry the target
they belong to (``T-self`` …), so a response can be searched for what it must not contain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shapely.geometry import Point, Polygon
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import create_access_token
from geo.model import CheckIn, Evidence, MeetingKind, SiteKind
from gnss.model import Constellation, FixQuality
from partymap.settings import Settings
from store import devices, meetings, members, orgs, sites, users
from store.models import OrgKind, Role, User
from store.positions import PositionBatch, write_positions
from store.presence import PresenceRow, save_presence
from store.visits import record_checkin
from tests.store.helpers import position

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
TARGETS = ("self", "peer", "sibling", "outside")
ROLES = ("anonymous", "device", "member", "branch_admin", "committee_admin", "whole_tree")
PASSWORD = "correct horse battery"
# Which targets each role may see: personal data (a member's), and an organisation's own data.
PERSONAL = {
    "member": {"self"},
    "branch_admin": {"self", "peer"},
    "committee_admin": {"self", "peer", "sibling"},
    "whole_tree": set(TARGETS),
}
ORG_READ = {
    "member": {"self", "peer"},
    "branch_admin": {"self", "peer"},
    "committee_admin": {"self", "peer", "sibling"},
    "whole_tree": set(TARGETS),
}


@dataclass
class Target:
    """The rows of one target: a member, their organisation and its site, meeting, admin."""

    name: str
    org_id: int
    member_id: int
    member_code: str
    device_id: int
    device_uid: str
    site_id: int
    meeting_id: int
    admin_user_id: int | None = None


@dataclass
class World:
    targets: dict[str, Target]
    tokens: dict[str, str]  # role → bearer token (the device role: M1's device token)
    user_ids: dict[str, int]
    org_ids: dict[str, int]  # C1, G1, B1, B2, C2, B3
    password_hash: str  # every user's (one password for all)
    counter: list[int] = field(default_factory=lambda: [0])

    def unique(self, prefix: str) -> str:
        self.counter[0] += 1
        return f"{prefix}-{self.counter[0]}"

    def token(self, settings: Settings, user_id: int) -> str:
        """A fresh login token for one of the world's users."""
        return create_access_token(settings, user_id=user_id, password_hash=self.password_hash)[0]

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens.get(role)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def visible_members(self, role: str) -> set[int]:
        return {self.targets[t].member_id for t in PERSONAL.get(role, ())}

    def visible_orgs(self, role: str) -> set[int]:
        """Organisation ids whose own data ``role`` may read (their whole subtree for admins)."""
        if role == "whole_tree":
            return set(self.org_ids.values())
        ids = {self.targets[t].org_id for t in ORG_READ.get(role, ())}
        if role == "committee_admin":
            ids |= {self.org_ids["C1"], self.org_ids["G1"]}
        return ids


def square(lon: float, lat: float, half_deg: float = 0.001) -> Polygon:
    return Polygon(
        [
            (lon - half_deg, lat - half_deg),
            (lon + half_deg, lat - half_deg),
            (lon + half_deg, lat + half_deg),
            (lon - half_deg, lat + half_deg),
        ]
    )


def build_world(engine: Engine, settings: Settings) -> World:
    with Session(engine, expire_on_commit=False) as db:
        org = {}
        org["C1"] = orgs.create_organisation(db, name="党委 T-self", kind=OrgKind.PARTY_COMMITTEE)
        org["G1"] = orgs.create_organisation(
            db, name="党总支 T-self", kind=OrgKind.GENERAL_BRANCH, parent_id=org["C1"].id
        )
        org["B1"] = orgs.create_organisation(
            db, name="一支部 T-self", kind=OrgKind.BRANCH, parent_id=org["G1"].id, code="B1"
        )
        org["B2"] = orgs.create_organisation(
            db, name="二支部 T-sibling", kind=OrgKind.BRANCH, parent_id=org["G1"].id, code="B2"
        )
        org["C2"] = orgs.create_organisation(
            db, name="二党委 T-outside", kind=OrgKind.PARTY_COMMITTEE
        )
        org["B3"] = orgs.create_organisation(
            db, name="三支部 T-outside", kind=OrgKind.BRANCH, parent_id=org["C2"].id, code="B3"
        )
        where = {"self": "B1", "peer": "B1", "sibling": "B2", "outside": "B3"}
        branch_sites = {}
        targets = {}
        for n, name in enumerate(TARGETS):
            branch = org[where[name]]
            if branch.id not in branch_sites:
                lon, lat = 114.0 + n * 0.1, 30.5
                branch_sites[branch.id] = sites.create_site(
                    db,
                    org_id=branch.id,
                    name=f"会议室 T-{'self' if name == 'peer' else name}",
                    geometry=square(lon, lat),
                    kind=SiteKind.MEETING_ROOM,
                )
            site = branch_sites[branch.id]
            member = members.create_member(
                db, org_id=branch.id, name=f"党员 T-{name}", code=f"M-{name}"
            )
            device = devices.create_device(db, uid=f"dev-T-{name}", member_id=member.id)
            centre = site.geometry.centroid
            _fixes(db, member.id, device.id, centre)
            _visit(db, member.id, site.id)
            meeting = meetings.create_meeting(
                db,
                org_id=branch.id,
                site_id=site.id,
                kind=MeetingKind.BRANCH_GENERAL_MEETING,
                start=T0 + timedelta(minutes=30),
                end=T0 + timedelta(minutes=90),
                title=f"支部大会 T-{'self' if name == 'peer' else name}",
            )
            targets[name] = Target(
                name=name,
                org_id=branch.id,
                member_id=member.id,
                member_code=member.code or "",
                device_id=device.id,
                device_uid=device.uid,
                site_id=site.id,
                meeting_id=meeting.id,
            )
        # One argon2 hash for every user: hashing is deliberately slow, and it is the same
        # password anyway.
        first = users.create_user(
            db,
            username="mem",
            password=PASSWORD,
            role=Role.MEMBER,
            member_id=targets["self"].member_id,
        )

        def user(username: str, role: Role, org_id: int | None = None) -> User:
            row = User(
                username=username,
                password_hash=first.password_hash,
                role=role,
                org_id=org_id,
                active=True,
            )
            db.add(row)
            db.flush()
            return row

        user_rows = {
            "member": first,
            "branch_admin": user("ba", Role.BRANCH_ADMIN, org["B1"].id),
            "committee_admin": user("com", Role.COMMITTEE_ADMIN, org["C1"].id),
            "whole_tree": user("root", Role.COMMITTEE_ADMIN),
        }
        for name, branch in (("sibling", "B2"), ("outside", "B3")):
            targets[name].admin_user_id = user(
                f"admin-{name}", Role.BRANCH_ADMIN, org[branch].id
            ).id
        targets["self"].admin_user_id = targets["peer"].admin_user_id = user_rows["branch_admin"].id
        device_token = devices.issue_device_token(db, device_id=targets["self"].device_id)
        db.commit()
    tokens = {
        role: create_access_token(settings, user_id=u.id, password_hash=u.password_hash)[0]
        for role, u in user_rows.items()
    }
    tokens["device"] = device_token
    return World(
        targets=targets,
        tokens=tokens,
        user_ids={role: u.id for role, u in user_rows.items()},
        password_hash=first.password_hash,
        org_ids={key: o.id for key, o in org.items()},
    )


def _fixes(db: Session, member_id: int, device_id: int, centre: Point) -> None:
    batch = PositionBatch.from_positions(
        position(member_id, device_id, s, lat=centre.y, lon=centre.x) for s in range(0, 600, 60)
    )
    batch.append(position(member_id, device_id, 700, "hdop_too_high", lat=centre.y, lon=centre.x))
    write_positions(db, batch=batch)


def _visit(db: Session, member_id: int, site_id: int) -> None:
    start = T0 + timedelta(minutes=20)
    evidence = Evidence(
        fix_times=(start, start + timedelta(minutes=2)),
        quality=FixQuality.GPS,
        hdop=0.9,
        accuracy_m=2.5,
        sats_used_by_system={Constellation.BEIDOU: 8, Constellation.GPS: 4},
        fix_count=3,
    )
    record_checkin(
        db, checkin=CheckIn(member_id=member_id, site_id=site_id, time=start, evidence=evidence)
    )
    present = PresenceRow(member_id, site_id, "present", since=start, checkin_at=start)
    save_presence(db, rows=[present], cleared=[])
