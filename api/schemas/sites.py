"""Site bodies: GeoJSON Features whose properties carry the site's fields."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from api.geojson import SiteGeometry, feature, geometry_of
from api.schemas.common import Id, In, Int, Name, Number, TimeZone
from geo.model import EvidencePolicy, QualityThresholds, Site, SiteKind, SiteParams

Finite = Annotated[Number, Field(allow_inf_nan=False)]
_PARAMS, _QUALITY = SiteParams(), QualityThresholds()  # the defaults of DESIGN §4


class SiteParamsIn(In):
    """Presence parameters (DESIGN §4); missing ones keep their defaults."""

    dwell_s: Annotated[Finite, Field(ge=0, le=86_400)] = _PARAMS.dwell_s
    exit_after_s: Annotated[Finite, Field(ge=0, le=86_400)] = _PARAMS.exit_after_s
    max_gap_s: Annotated[Finite, Field(gt=0, le=86_400)] = _PARAMS.max_gap_s
    hysteresis_m: Annotated[Finite, Field(ge=0, le=10_000)] = _PARAMS.hysteresis_m
    accuracy_k: Annotated[Finite, Field(ge=0, le=100)] = _PARAMS.accuracy_k
    accuracy_cap_m: Annotated[Finite, Field(ge=0, le=10_000)] = _PARAMS.accuracy_cap_m

    def value(self) -> SiteParams:
        return SiteParams(**self.model_dump())


class QualityIn(In):
    """Quality-rule thresholds for fixes at this site; missing ones keep their defaults."""

    min_sats: Annotated[Int, Field(ge=0, le=64)] = _QUALITY.min_sats
    max_hdop: Annotated[Finite, Field(gt=0, le=99.99)] = _QUALITY.max_hdop
    max_speed_mps: Annotated[Finite, Field(gt=0, le=10_000)] = _QUALITY.max_speed_mps
    max_future_s: Annotated[Finite, Field(ge=0, le=86_400)] = _QUALITY.max_future_s

    def value(self) -> QualityThresholds:
        return QualityThresholds(**self.model_dump())


Radius = Annotated[Finite, Field(gt=0, le=50_000, description="A circle's radius (Point sites).")]
Policy = Annotated[
    EvidencePolicy | None,
    Field(
        description="Which check-ins count here: beidou (receivers only), beidou_or_qr "
        "(receivers or the meeting's code: meeting rooms' default), any (phones' positions "
        "too). Missing: the default of the site's kind.",
    ),
]


class SiteProperties(In):
    org_id: Id
    name: Name = Field(examples=["第一党支部会议室"])
    kind: SiteKind = SiteKind.OFFICE
    tz: TimeZone = "Asia/Shanghai"
    radius_m: Radius | None = Field(default=None, examples=[15.0])
    params: SiteParamsIn | None = None
    quality: QualityIn | None = None
    evidence_policy: Policy = None


class SitePropertiesPatch(In):
    org_id: Id | None = None
    name: Name | None = None
    kind: SiteKind | None = None
    tz: TimeZone | None = None
    radius_m: Radius | None = None
    params: SiteParamsIn | None = None
    quality: QualityIn | None = None
    evidence_policy: Policy = None


_EXAMPLE: JsonDict = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [114.2661, 30.6195]},
    "properties": {
        "org_id": 12,
        "name": "第一党支部会议室 Branch 1 meeting room",
        "kind": "meeting_room",
        "tz": "Asia/Shanghai",
        "radius_m": 15.0,
    },
}


class SiteFeatureIn(BaseModel):
    """A site as a GeoJSON Feature: Polygon, MultiPolygon, or Point + ``radius_m``."""

    # "id", "bbox" and foreign members of a Feature are allowed and ignored.
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [_EXAMPLE]})

    type: Literal["Feature"]
    geometry: SiteGeometry
    properties: SiteProperties


class SiteFeaturePatch(BaseModel):
    """The fields to change; a new geometry replaces the footprint (with its ``radius_m``)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"type": "Feature", "properties": {"name": "新会议室", "radius_m": 20}}]
        },
    )

    type: Literal["Feature"] = "Feature"
    geometry: SiteGeometry | None = None
    properties: SitePropertiesPatch = Field(default_factory=SitePropertiesPatch)


def site_feature(site: Site, policy: EvidencePolicy | None = None) -> dict[str, Any]:
    """A stored site as a GeoJSON Feature (a circle: its centre Point and ``radius_m``), with
    its evidence policy when given."""
    return feature(
        site.id,
        geometry_of(site.geometry),
        {
            "org_id": site.org_id,
            "name": site.name,
            "kind": site.kind.value,
            "tz": site.tz,
            "radius_m": site.radius_m,
            "params": dataclasses.asdict(site.params),
            "quality": dataclasses.asdict(site.quality),
            **({"evidence_policy": policy.value} if policy is not None else {}),
        },
    )
