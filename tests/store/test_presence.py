"""Presence for the map: upserts, clearing back to OUTSIDE, and the filters the map uses."""

from __future__ import annotations

import doctest
from datetime import timedelta

import pytest
from shapely.geometry import Point
from sqlalchemy.orm import Session

import store.presence
from store import members, sites
from store.errors import InvalidValueError
from store.presence import (
    PresenceRow,
    TrackedPresence,
    list_presence,
    load_tracked_presence,
    save_presence,
)
from tests.store.helpers import T0, tree


def setup(db: Session) -> tuple[list[int], list[int], int, int]:
    t = tree(db)
    people = [
        members.create_member(db, org_id=org.id, name=name).id
        for org, name in ((t.branch_a, "张三"), (t.branch_b, "李四"), (t.branch_c, "王五"))
    ]
    places = [
        sites.create_site(
            db, org_id=t.branch_a.id, name=name, geometry=Point(114.3, 30.5), radius_m=50.0
        ).id
        for name in ("活动室", "项目部")
    ]
    return people, places, t.general.id, t.committee2.id


def test_rows_are_upserted_and_read_back_as_written(db: Session) -> None:
    (a, b, _), (s1, s2), _, _ = setup(db)
    arriving = PresenceRow(a, s1, "arriving", T0, None)
    other = PresenceRow(b, s2, "arriving", T0 + timedelta(seconds=5), None)
    save_presence(db, rows=[arriving, other], cleared=[])
    db.commit()
    assert list_presence(db) == [arriving, other]
    present = PresenceRow(a, s1, "present", T0, T0)
    save_presence(db, rows=[present], cleared=[])
    db.commit()
    assert list_presence(db) == [present, other]
    assert list_presence(db)[0].since.tzinfo is not None


def test_cleared_pairs_are_deleted_and_a_pair_back_in_the_same_batch_keeps_its_row(
    db: Session,
) -> None:
    (a, b, _), (s1, s2), _, _ = setup(db)
    save_presence(
        db,
        rows=[PresenceRow(a, s1, "leaving", T0, T0), PresenceRow(b, s1, "present", T0, T0)],
        cleared=[],
    )
    back = PresenceRow(b, s1, "arriving", T0 + timedelta(minutes=9), None)
    save_presence(db, rows=[back], cleared=[(a, s1), (b, s1), (a, s2)])
    db.commit()
    assert list_presence(db) == [back]


def test_the_last_row_of_a_pair_wins(db: Session) -> None:
    (a, _, _), (s1, _), _, _ = setup(db)
    first = PresenceRow(a, s1, "arriving", T0, None)
    last = PresenceRow(a, s1, "present", T0, T0)
    save_presence(db, rows=[first, last], cleared=[])
    assert list_presence(db) == [last]


def test_filters_by_subtree_members_and_site(db: Session) -> None:
    (a, b, c), (s1, s2), general, committee2 = setup(db)
    rows = [
        PresenceRow(a, s1, "present", T0, T0),
        PresenceRow(b, s2, "arriving", T0, None),
        PresenceRow(c, s1, "leaving", T0, T0),
    ]
    save_presence(db, rows=rows, cleared=[])
    assert list_presence(db, within_org_id=general) == rows[:2]
    assert list_presence(db, within_org_id=committee2) == rows[2:]
    assert list_presence(db, member_ids=[b, c]) == rows[1:]
    assert list_presence(db, member_ids=[]) == []
    assert list_presence(db, site_id=s1) == [rows[0], rows[2]]
    assert list_presence(db, within_org_id=general, site_id=s1) == rows[:1]


def test_an_unknown_state_is_refused(db: Session) -> None:
    (a, _, _), (s1, _), _, _ = setup(db)
    with pytest.raises(InvalidValueError):
        save_presence(db, rows=[PresenceRow(a, s1, "outside", T0, None)], cleared=[])


def test_docstring_example() -> None:
    result = doctest.testmod(store.presence)
    assert (result.attempted > 0, result.failed) == (True, 0)


def test_tracker_state_is_kept_with_the_row_and_loaded_back(db: Session) -> None:
    (a, b, _), (s1, _), _, _ = setup(db)
    leaving = TrackedPresence(
        PresenceRow(a, s1, "leaving", T0, T0),
        leaving_at=T0 + timedelta(minutes=40),
        evidence={"count": 12, "sats": [4, 0, 0, 7, 0, 0, 0]},
    )
    save_presence(db, rows=[leaving, PresenceRow(b, s1, "arriving", T0, None)], cleared=[])
    db.commit()
    assert load_tracked_presence(db) == [
        leaving,
        TrackedPresence(PresenceRow(b, s1, "arriving", T0, None)),
    ]
    assert list_presence(db) == [leaving.row, PresenceRow(b, s1, "arriving", T0, None)]
