"""The organisation tree: materialised paths, subtrees, moves and refusals."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from store import members, orgs
from store.errors import ConflictError, NotFoundError
from store.models import Organisation, OrgKind
from tests.store.helpers import tree


def test_paths_and_depths_follow_the_tree(db: Session) -> None:
    t = tree(db)
    assert t.committee.path == f"/{t.committee.id}/"
    assert t.branch_a.path == f"/{t.committee.id}/{t.general.id}/{t.branch_a.id}/"
    assert [t.committee.depth, t.general.depth, t.branch_a.depth] == [0, 1, 2]


def test_subtree_is_the_node_and_everything_below_it(db: Session) -> None:
    t = tree(db)
    expected = {t.committee.id, t.general.id, t.branch_a.id, t.branch_b.id}
    assert set(orgs.subtree_ids(db, org_id=t.committee.id)) == expected
    assert set(orgs.subtree_ids(db, org_id=t.general.id)) == expected - {t.committee.id}
    assert orgs.subtree_ids(db, org_id=t.branch_c.id) == [t.branch_c.id]
    ordered = orgs.subtree(db, org_id=t.committee.id)
    assert ordered[0].id == t.committee.id  # parents before children
    assert [o.id for o in orgs.subtree(db, org_id=t.committee.id, limit=2, offset=1)] == [
        o.id for o in ordered[1:3]
    ]


def test_a_root_whose_id_extends_another_is_not_in_its_subtree(db: Session) -> None:
    # Paths "/90001/" and "/900010/": a naive prefix match on "/90001" would take the second
    # for part of the first. Ids are set explicitly to get such a pair on both databases.
    for org_id in (90001, 900010):
        db.add(Organisation(id=org_id, path=f"/{org_id}/", depth=0, kind=OrgKind.BRANCH, name="r"))
    db.flush()
    assert orgs.subtree_bounds("/90001/") == ("/90001/", "/900010")
    assert orgs.subtree_ids(db, org_id=90001) == [90001]
    assert not orgs.is_within(db, org_id=900010, root_id=90001)


def test_ancestors_and_scope_checks(db: Session) -> None:
    t = tree(db)
    assert [o.id for o in orgs.ancestors(db, org_id=t.branch_a.id)] == [
        t.committee.id,
        t.general.id,
    ]
    assert orgs.ancestors(db, org_id=t.committee.id) == []
    assert orgs.is_within(db, org_id=t.branch_a.id, root_id=t.committee.id)
    assert orgs.is_within(db, org_id=t.branch_a.id, root_id=t.branch_a.id)
    assert not orgs.is_within(db, org_id=t.committee.id, root_id=t.branch_a.id)
    assert not orgs.is_within(db, org_id=t.branch_c.id, root_id=t.committee.id)
    assert not orgs.is_within(db, org_id=999_999, root_id=t.committee.id)


def test_children_roots_and_lookup_by_code(db: Session) -> None:
    t = tree(db)
    assert {o.id for o in orgs.list_children(db, org_id=t.general.id)} == {
        t.branch_a.id,
        t.branch_b.id,
    }
    assert {o.id for o in orgs.list_children(db, org_id=None)} == {t.committee.id, t.committee2.id}
    coded = orgs.create_organisation(
        db, name="项目部", kind=OrgKind.BRANCH, parent_id=t.committee.id, code="P-01"
    )
    assert orgs.find_organisation(db, code="P-01") is coded
    with pytest.raises(ConflictError):
        orgs.create_organisation(db, name="dup", kind=OrgKind.BRANCH, code="P-01")


def test_moving_a_subtree_rewrites_paths_and_depths(db: Session) -> None:
    t = tree(db)
    orgs.move_organisation(db, org_id=t.general.id, new_parent_id=t.branch_c.id)
    db.commit()
    assert set(orgs.subtree_ids(db, org_id=t.committee2.id)) == {
        t.committee2.id,
        t.branch_c.id,
        t.general.id,
        t.branch_a.id,
        t.branch_b.id,
    }
    assert orgs.subtree_ids(db, org_id=t.committee.id) == [t.committee.id]
    moved = orgs.get_organisation(db, org_id=t.branch_a.id)
    assert moved.path == f"/{t.committee2.id}/{t.branch_c.id}/{t.general.id}/{t.branch_a.id}/"
    assert moved.depth == 3
    root = orgs.move_organisation(db, org_id=t.general.id, new_parent_id=None)
    assert (root.path, root.depth, root.parent_id) == (f"/{t.general.id}/", 0, None)
    assert orgs.get_organisation(db, org_id=t.branch_b.id).depth == 1


def test_a_move_into_its_own_subtree_is_refused(db: Session) -> None:
    t = tree(db)
    with pytest.raises(ConflictError):
        orgs.move_organisation(db, org_id=t.general.id, new_parent_id=t.branch_a.id)
    with pytest.raises(ConflictError):
        orgs.move_organisation(db, org_id=t.general.id, new_parent_id=t.general.id)


def test_update_and_delete(db: Session) -> None:
    t = tree(db)
    renamed = orgs.update_organisation(db, org_id=t.branch_b.id, name="新二支部", code="B2")
    assert (renamed.name, renamed.code) == ("新二支部", "B2")
    with pytest.raises(ConflictError, match="child"):
        orgs.delete_organisation(db, org_id=t.general.id)
    members.create_member(db, org_id=t.branch_a.id, name="李四")
    with pytest.raises(ConflictError, match="members"):
        orgs.delete_organisation(db, org_id=t.branch_a.id)
    orgs.delete_organisation(db, org_id=t.branch_b.id)
    with pytest.raises(NotFoundError):
        orgs.get_organisation(db, org_id=t.branch_b.id)
    with pytest.raises(NotFoundError):
        orgs.subtree_ids(db, org_id=t.branch_b.id)
