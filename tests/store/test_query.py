"""Bounding boxes and pagination helpers (no database needed)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store.errors import InvalidValueError
from store.models import Member
from store.query import BBox, page


def test_bbox_contains_edges_and_crosses_the_antimeridian() -> None:
    box = BBox(west=114.0, south=30.0, east=115.0, north=31.0)
    assert box.contains(114.0, 30.0) and box.contains(115.0, 31.0)
    assert not box.contains(113.99, 30.5)
    pacific = BBox(west=170.0, south=-20.0, east=-170.0, north=0.0)
    assert pacific.contains(179.0, -10.0) and pacific.contains(-175.0, -10.0)
    assert not pacific.contains(0.0, -10.0)


@pytest.mark.parametrize(
    "box",
    [BBox(-181, 0, 10, 10), BBox(0, 10, 10, 0), BBox(0, -91, 10, 10), BBox(0, 0, 10, 90.5)],
)
def test_a_bad_bbox_is_refused(box: BBox) -> None:
    with pytest.raises(InvalidValueError):
        box.validate()


def test_page_refuses_negative_bounds() -> None:
    stmt = select(Member).order_by(Member.id)
    assert page(stmt, limit=None, offset=0) is stmt
    with pytest.raises(InvalidValueError):
        page(stmt, limit=-1, offset=0)
    with pytest.raises(InvalidValueError):
        page(stmt, limit=10, offset=-5)
