"""GeoJSON (RFC 7946) in and out: WGS 84, ``[longitude, latitude]``, nothing else.

Incoming geometries are typed (Point, Polygon, MultiPolygon), two-dimensional, finite, in
range and of bounded size, so malformed input is a 422 naming the field; what the shapes mean
(validity, a circle's radius) is then the store's check. Outgoing features are plain dicts:
the latest positions of thousands of members are written without a model per feature.

>>> geometry = PolygonGeometry(type="Polygon",
...     coordinates=[[(114.0, 30.0), (114.1, 30.0), (114.1, 30.1), (114.0, 30.0)]])
>>> to_shape(geometry).geom_type
'Polygon'
>>> feature(7, {"type": "Point", "coordinates": (114.3, 30.5)}, {"name": "x"})["id"]
7
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field, Strict
from shapely.geometry import MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from store.errors import InvalidValueError
from store.query import BBox

GEOJSON = "application/geo+json"
MAX_RING = 10_000  # positions per ring
MAX_PARTS = 1_000  # rings per polygon, polygons per multipolygon

Lon = Annotated[float, Strict(), Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Strict(), Field(ge=-90, le=90, allow_inf_nan=False)]
# RFC 7946 allows an altitude; a site is a footprint, so two numbers exactly.
Position = tuple[Lon, Lat]


def _closed(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if ring[0] != ring[-1]:
        raise ValueError("a linear ring must end where it starts (RFC 7946 §3.1.6)")
    return ring


Ring = Annotated[list[Position], Field(min_length=4, max_length=MAX_RING), AfterValidator(_closed)]
PolygonCoordinates = Annotated[list[Ring], Field(min_length=1, max_length=MAX_PARTS)]


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: Position


class PolygonGeometry(BaseModel):
    type: Literal["Polygon"]
    coordinates: PolygonCoordinates


class MultiPolygonGeometry(BaseModel):
    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[PolygonCoordinates], Field(min_length=1, max_length=MAX_PARTS)]


SiteGeometry = Annotated[
    PointGeometry | PolygonGeometry | MultiPolygonGeometry, Field(discriminator="type")
]


def to_shape(geometry: PointGeometry | PolygonGeometry | MultiPolygonGeometry) -> BaseGeometry:
    """The shapely geometry of a checked GeoJSON geometry."""
    if isinstance(geometry, PointGeometry):
        return Point(geometry.coordinates)
    if isinstance(geometry, PolygonGeometry):
        return _polygon(geometry.coordinates)
    return MultiPolygon([_polygon(p) for p in geometry.coordinates])


def _polygon(rings: list[list[tuple[float, float]]]) -> Polygon:
    return Polygon(rings[0], rings[1:])


def geometry_of(shape: BaseGeometry) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON geometry object."""
    return dict(mapping(shape))


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": (lon, lat)}


def feature(
    feature_id: int | str | None, geometry: dict[str, Any] | None, properties: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "Feature", "geometry": geometry, "properties": properties}
    if feature_id is not None:
        out["id"] = feature_id
    return out


def feature_collection(features: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    """A FeatureCollection; ``members`` are foreign members (paging) beside ``features``."""
    return {"type": "FeatureCollection", "features": features, **members}


class Feature(BaseModel):
    """Schema of an outgoing Feature (documentation; the bodies are built as dicts)."""

    type: Literal["Feature"]
    id: int | str | None = None
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    """Schema of an outgoing FeatureCollection with its paging foreign members."""

    type: Literal["FeatureCollection"]
    features: list[Feature]
    limit: int | None = None
    next_offset: int | None = None


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


BBoxQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[^,]+,[^,]+,[^,]+,[^,]+$",
        description="west,south,east,north in degrees (lon/lat); west > east crosses 180°.",
        examples=["114.0,30.4,114.6,30.8"],
    ),
]


def parse_bbox(text: str | None) -> BBox | None:
    """``"w,s,e,n"`` as a checked box; anything else is an InvalidValueError (a 422).

    >>> parse_bbox("114,30.4,114.6,30.8")
    BBox(west=114.0, south=30.4, east=114.6, north=30.8)
    """
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError as exc:
        raise InvalidValueError(f"bbox {text!r}: give four numbers west,south,east,north") from exc
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidValueError(f"bbox {text!r}: give four finite numbers west,south,east,north")
    return BBox(*values).validate()
