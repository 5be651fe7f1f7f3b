"""Small builders for store tests: a tree, members with devices, fixes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from gnss.model import Constellation, Fix, FixMode, FixQuality
from store import devices, members, orgs
from store.models import Organisation, OrgKind
from store.positions import NewPosition

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@dataclass
class Tree:
    """committee → (general branch → branch A, branch B), committee 2 → branch C."""

    committee: Organisation
    general: Organisation
    branch_a: Organisation
    branch_b: Organisation
    committee2: Organisation
    branch_c: Organisation


def tree(db: Session) -> Tree:
    committee = orgs.create_organisation(db, name="党委", kind=OrgKind.PARTY_COMMITTEE)
    general = orgs.create_organisation(
        db, name="党总支", kind=OrgKind.GENERAL_BRANCH, parent_id=committee.id
    )
    branch_a = orgs.create_organisation(
        db, name="一支部", kind=OrgKind.BRANCH, parent_id=general.id
    )
    branch_b = orgs.create_organisation(
        db, name="二支部", kind=OrgKind.BRANCH, parent_id=general.id
    )
    committee2 = orgs.create_organisation(db, name="二党委", kind=OrgKind.PARTY_COMMITTEE)
    branch_c = orgs.create_organisation(
        db, name="三支部", kind=OrgKind.BRANCH, parent_id=committee2.id
    )
    return Tree(committee, general, branch_a, branch_b, committee2, branch_c)


def member_with_device(db: Session, org_id: int, name: str) -> tuple[int, int]:
    member = members.create_member(db, org_id=org_id, name=name)
    device = devices.create_device(db, uid=f"dev-{name}", member_id=member.id)
    return member.id, device.id


def fix(
    seconds: float,
    *,
    lat: float | None = 30.5,
    lon: float | None = 114.3,
    beidou: int = 6,
    quality: FixQuality = FixQuality.GPS,
) -> Fix:
    has_position = lat is not None
    return Fix(
        time=T0 + timedelta(seconds=seconds),
        lat=lat,
        lon=lon,
        alt_m=21.5 if has_position else None,
        mode=FixMode.THREE_D if has_position else FixMode.NO_FIX,
        quality=quality if has_position else FixQuality.INVALID,
        hdop=0.9 if has_position else None,
        pdop=1.6 if has_position else None,
        sats_used=beidou + 4 if has_position else None,
        sats_used_by_system=(
            {Constellation.BEIDOU: beidou, Constellation.GPS: 4} if has_position else {}
        ),
        speed_mps=0.4 if has_position else None,
        course_deg=271.0 if has_position else None,
        accuracy_m=2.5 if has_position else None,
    )


def position(
    member_id: int | None, device_id: int, seconds: float, *rejections: str, **fix_args: object
) -> NewPosition:
    return NewPosition(
        device_id=device_id,
        member_id=member_id,
        fix=fix(seconds, **fix_args),  # type: ignore[arg-type]
        received_at=T0 + timedelta(seconds=seconds + 1),
        source="tcp",
        rejections=rejections,
    )
