"""``/api/v1/sites``: branch sites and worksites as GeoJSON Features, with bbox filtering."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from sqlalchemy.orm import Session

from api.changes import Kind, announce
from api.deps import AdminUser, CurrentUser, DbSession, Pagination
from api.geojson import (
    GEOJSON,
    BBoxQuery,
    FeatureCollection,
    GeoJSONResponse,
    feature_collection,
    parse_bbox,
    to_shape,
)
from api.routes import API_PREFIX
from api.schemas.common import OrgFilter, SiteId, page_of
from api.schemas.sites import (
    SiteFeatureIn,
    SiteFeaturePatch,
    SiteProperties,
    SitePropertiesPatch,
    site_feature,
)
from api.scope import org_in_scope, site_in_scope, within
from geo.model import Site
from store import sites
from store.checkins import set_site_policy, site_policies, site_policy
from store.models import Role

router = APIRouter(prefix=f"{API_PREFIX}/sites", tags=["sites"])

_FEATURE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {GEOJSON: {}}, "description": "A GeoJSON Feature."}
}


@router.get(
    "",
    summary="List sites (GeoJSON)",
    response_model=FeatureCollection,
    response_class=GeoJSONResponse,
)
def list_sites(
    session: DbSession,
    user: CurrentUser,
    params: Pagination,
    org_id: OrgFilter = None,
    bbox: BBoxQuery = None,
) -> GeoJSONResponse:
    """Live sites in the caller's scope overlapping ``bbox``, as a FeatureCollection (paged:
    ``next_offset`` is a foreign member). A member sees their own organisation's sites."""
    box = parse_bbox(bbox)
    if user.role is Role.MEMBER:
        if org_id is not None:
            org_in_scope(session, user, org_id)
        found = sites.list_sites(
            session, org_id=user.org_id, bbox=box, limit=params.limit + 1, offset=params.offset
        )
    else:
        found = sites.list_sites(
            session,
            within_org_id=within(session, user, org_id),
            bbox=box,
            limit=params.limit + 1,
            offset=params.offset,
        )
    items, next_offset = page_of(found, limit=params.limit, offset=params.offset)
    policies = site_policies(session, site_ids=[s.id for s in items])
    return GeoJSONResponse(
        feature_collection(
            [site_feature(s, policies.get(s.id)) for s in items],
            limit=params.limit,
            offset=params.offset,
            next_offset=next_offset,
        )
    )


@router.get("/{site_id}", summary="Read a site (GeoJSON Feature)", responses=_FEATURE_RESPONSE)
def read_site(site_id: SiteId, session: DbSession, user: CurrentUser) -> GeoJSONResponse:
    return GeoJSONResponse(_feature(session, site_in_scope(session, user, site_id)))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a site from a GeoJSON Feature",
    responses={201: _FEATURE_RESPONSE[200]},
)
def create_site(
    body: SiteFeatureIn, session: DbSession, user: AdminUser, request: Request
) -> GeoJSONResponse:
    props = body.properties
    org_in_scope(session, user, props.org_id, write=True)
    site = sites.create_site(session, geometry=to_shape(body.geometry), **_fields(props))
    if props.evidence_policy is not None:
        set_site_policy(session, site_id=site.id, policy=props.evidence_policy)
    session.commit()
    announce(request, Kind.SITES)
    return GeoJSONResponse(_feature(session, site), status_code=status.HTTP_201_CREATED)


@router.patch("/{site_id}", summary="Change a site", responses=_FEATURE_RESPONSE)
def update_site(
    site_id: SiteId, body: SiteFeaturePatch, session: DbSession, user: AdminUser, request: Request
) -> GeoJSONResponse:
    site_in_scope(session, user, site_id, write=True)
    props = body.properties
    if props.org_id is not None:
        org_in_scope(session, user, props.org_id, write=True)
    site = sites.update_site(
        session,
        site_id=site_id,
        geometry=to_shape(body.geometry) if body.geometry else None,
        **_fields(props),
    )
    if props.evidence_policy is not None:
        set_site_policy(session, site_id=site_id, policy=props.evidence_policy)
    session.commit()
    announce(request, Kind.SITES)
    return GeoJSONResponse(_feature(session, site))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Retire a site")
def delete_site(site_id: SiteId, session: DbSession, user: AdminUser, request: Request) -> None:
    """The site leaves presence detection; visits and meetings that name it keep it."""
    site_in_scope(session, user, site_id, write=True)
    sites.delete_site(session, site_id=site_id)
    session.commit()
    announce(request, Kind.SITES)


def _feature(session: Session, site: Site) -> dict[str, Any]:
    return site_feature(site, site_policy(session, site_id=site.id))


def _fields(props: SiteProperties | SitePropertiesPatch) -> dict[str, Any]:
    """The store's keyword arguments for a Feature's properties (None: keep, or default)."""
    return {
        "org_id": props.org_id,
        "name": props.name,
        "radius_m": props.radius_m,
        "kind": props.kind,
        "tz": props.tz,
        "params": props.params.value() if props.params else None,
        "quality": props.quality.value() if props.quality else None,
    }
