"""Small query helpers shared by the repositories: pagination and bounding boxes.

>>> BBox(west=114.0, south=30.0, east=115.0, north=31.0).contains(114.5, 30.5)
True
>>> BBox(west=179.0, south=-10.0, east=-179.0, north=10.0).contains(-179.5, 0.0)  # antimeridian
True
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_

from store.errors import InvalidValueError

SelectT = TypeVar("SelectT", bound=Select[Any])


class BBox(NamedTuple):
    """A lon/lat box, degrees WGS 84. ``west > east`` crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float

    def validate(self) -> BBox:
        if not (-180 <= self.west <= 180 and -180 <= self.east <= 180):
            raise InvalidValueError(f"bbox longitudes out of range: {self}")
        if not (-90 <= self.south <= self.north <= 90):
            raise InvalidValueError(f"bbox latitudes out of range or south > north: {self}")
        return self

    def contains(self, lon: float, lat: float) -> bool:
        if not self.south <= lat <= self.north:
            return False
        if self.west <= self.east:
            return self.west <= lon <= self.east
        return lon >= self.west or lon <= self.east


def page(stmt: SelectT, *, limit: int | None, offset: int) -> SelectT:
    """Apply limit/offset; the statement must already have a deterministic ORDER BY."""
    if offset < 0 or (limit is not None and limit < 0):
        raise InvalidValueError(f"limit {limit} and offset {offset} must not be negative")
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt.offset(offset) if offset else stmt


def matching(*pairs: tuple[Any, Any]) -> list[ColumnElement[bool]]:
    """``column == value`` for each (column, value) pair whose value is given (not None)."""
    return [column == value for column, value in pairs if value is not None]


def in_window(column: Any, start: Any, end: Any) -> list[ColumnElement[bool]]:
    """``start <= column < end``, each bound only when given."""
    bounds = []
    if start is not None:
        bounds.append(column >= start)
    if end is not None:
        bounds.append(column < end)
    return bounds


def point_in_bbox(lon: Any, lat: Any, bbox: BBox) -> ColumnElement[bool]:
    """Points whose lon/lat columns fall inside ``bbox`` (edges included)."""
    bbox.validate()
    return and_(lat.between(bbox.south, bbox.north), _lon_overlap(lon, lon, bbox))


def bounds_intersect_bbox(
    min_lon: Any, min_lat: Any, max_lon: Any, max_lat: Any, bbox: BBox
) -> ColumnElement[bool]:
    """Rows whose bounds overlap ``bbox`` (touching counts)."""
    bbox.validate()
    return and_(max_lat >= bbox.south, min_lat <= bbox.north, _lon_overlap(min_lon, max_lon, bbox))


def _lon_overlap(min_lon: Any, max_lon: Any, bbox: BBox) -> ColumnElement[bool]:
    if bbox.west <= bbox.east:
        return and_(max_lon >= bbox.west, min_lon <= bbox.east)
    # Across the antimeridian the box is [west, 180] ∪ [-180, east].
    return or_(max_lon >= bbox.west, min_lon <= bbox.east)
