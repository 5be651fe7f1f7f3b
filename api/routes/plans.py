"""``/api/v1/meeting-plans``: recurring meetings that schedule themselves ahead.

A plan ("支委会, monthly, first Tuesday 15:00, 90 minutes, in the activity room") schedules
its meetings up to ``PARTYMAP_MEETINGS_PLAN_HORIZON_DAYS`` ahead, at once and then as time
goes on (the meeting task of ``partymap serve``). Changing or stopping a plan replaces the
future meetings nobody has touched; edited, cancelled or recorded ones stay.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from api.deps import AdminUser, AppSettings, DbSession, Pagination, Principal
from api.reports import names as names_of
from api.routes import API_PREFIX
from api.schemas.common import OrgFilter, Page, path_id
from api.schemas.plans import PlanIn, PlannedMeeting, PlanOut, PlanPatch
from api.scope import check_person, meeting_zone, org_in_scope, within
from geo.errors import ScheduleError
from geo.meetings.recurrence import Frequency, Rule, local_iso, zone
from store import plans
from store.audit import record_audit
from store.errors import NotFoundError
from store.models import Organisation, SiteRow
from store.orgs import get_organisation

router = APIRouter(prefix=API_PREFIX, tags=["meetings"])
PlanId = Annotated[int, path_id("meeting plan")]
RULE_FIELDS = ("frequency", "weekday", "nth", "day_of_month", "month_of_quarter")


@router.get("/meeting-plans", summary="List meeting plans")
def list_plans(
    *,
    session: DbSession,
    user: AdminUser,
    params: Pagination,
    org_id: OrgFilter = None,
    active: Annotated[bool | None, Query(description="Only running (or stopped) plans.")] = None,
) -> Page[PlanOut]:
    found = plans.list_plans(
        session,
        within_org_id=within(session, user, org_id),
        active=active,
        limit=params.limit + 1,
        offset=params.offset,
    )
    items = found[: params.limit]
    return Page[PlanOut](
        items=_describe(session, items),
        limit=params.limit,
        offset=params.offset,
        next_offset=params.offset + params.limit if len(found) > params.limit else None,
    )


@router.post(
    "/meeting-plans", status_code=status.HTTP_201_CREATED, summary="Plan recurring meetings"
)
def create_plan(
    body: PlanIn, session: DbSession, user: AdminUser, settings: AppSettings
) -> PlanOut:
    """Weekly on a ``weekday``; monthly or quarterly on the ``nth`` ``weekday`` (1–4, -1 the
    last) or on a ``day_of_month``; at ``time`` in the site's zone. Its meetings up to the
    horizon are scheduled at once."""
    org = org_in_scope(session, user, body.org_id, write=True)
    tz = meeting_zone(
        session=session,
        user=user,
        site_id=body.site_id,
        tz=body.tz,
        org_path=org.path,
        default_tz=settings.meetings_tz,
    )
    for member_id in (body.host_member_id, body.recorder_member_id):
        check_person(session, user, member_id, org.path)
    now = datetime.now(UTC)
    plan = plans.create_plan(
        session,
        org_id=body.org_id,
        site_id=body.site_id,
        kind=body.kind,
        rule=_rule(
            body.frequency, body.weekday, body.nth, body.day_of_month, body.month_of_quarter
        ),
        start_time=_time(body.time),
        duration=timedelta(minutes=body.duration_min),
        starts_on=body.starts_on or _today(now, tz),
        until=body.until,
        tz=tz,
        title=body.title,
        topic=body.topic,
        host_member_id=body.host_member_id,
        recorder_member_id=body.recorder_member_id,
        early=timedelta(seconds=body.early_s),
        late_grace=timedelta(seconds=body.late_grace_s),
        left_early_margin=timedelta(seconds=body.left_early_margin_s),
        now=now,
    )
    plans.schedule_ahead(
        session, now=now, horizon_days=settings.meetings_plan_horizon_days, plan_ids=[plan.id]
    )
    _audit(session, user, "create_meeting_plan", plan.id, {"org_id": body.org_id})
    session.commit()
    return _describe(session, [plans.get_plan(session, plan_id=plan.id)])[0]


@router.get("/meeting-plans/{plan_id}", summary="Read a meeting plan")
def read_plan(plan_id: PlanId, session: DbSession, user: AdminUser) -> PlanOut:
    return _describe(session, [_plan_in_scope(session, user, plan_id)])[0]


@router.patch("/meeting-plans/{plan_id}", summary="Change a meeting plan")
def update_plan(
    plan_id: PlanId, body: PlanPatch, session: DbSession, user: AdminUser, settings: AppSettings
) -> PlanOut:
    """Its future meetings nobody has touched are scheduled again from the changed plan."""
    plan = _plan_in_scope(session, user, plan_id)
    org_path = get_organisation(session, org_id=plan.org_id).path
    given = body.model_fields_set
    new_site = body.site_id if "site_id" in given else plan.site_id
    if new_site is not None and ("site_id" in given or body.tz is not None):
        meeting_zone(
            session=session,
            user=user,
            site_id=new_site,
            tz=body.tz,
            org_path=org_path,
            default_tz=settings.meetings_tz,
        )
    for member_id in (body.host_member_id, body.recorder_member_id):
        check_person(session, user, member_id, org_path)
    rule = None
    if given & set(RULE_FIELDS):
        if body.frequency is None:
            raise ScheduleError("a new rule is given whole, frequency included")
        rule = _rule(
            body.frequency, body.weekday, body.nth, body.day_of_month, body.month_of_quarter
        )
    now = datetime.now(UTC)
    plans.update_plan(
        session,
        plan_id=plan_id,
        site_id=body.site_id,
        kind=body.kind,
        rule=rule,
        start_time=_time(body.time) if body.time else None,
        duration=timedelta(minutes=body.duration_min) if body.duration_min else None,
        starts_on=body.starts_on,
        until=body.until,
        tz=body.tz,
        title=body.title,
        topic=body.topic,
        host_member_id=body.host_member_id,
        recorder_member_id=body.recorder_member_id,
        clear={f for f in plans.CLEARABLE if f in given and getattr(body, f) is None},
        now=now,
    )
    plans.schedule_ahead(
        session, now=now, horizon_days=settings.meetings_plan_horizon_days, plan_ids=[plan_id]
    )
    _audit(session, user, "change_meeting_plan", plan_id, {"fields": sorted(given)})
    session.commit()
    return _describe(session, [plans.get_plan(session, plan_id=plan_id)])[0]


@router.post("/meeting-plans/{plan_id}/stop", summary="Stop a meeting plan")
def stop_plan(plan_id: PlanId, session: DbSession, user: AdminUser) -> PlanOut:
    """No more meetings; its future ones nobody has touched go, the rest stay."""
    _plan_in_scope(session, user, plan_id)
    plans.stop_plan(session, plan_id=plan_id)
    _audit(session, user, "stop_meeting_plan", plan_id, {})
    session.commit()
    return _describe(session, [plans.get_plan(session, plan_id=plan_id)])[0]


def _plan_in_scope(session: Session, user: Principal, plan_id: int) -> plans.Plan:
    plan = plans.get_plan(session, plan_id=plan_id)
    if not user.can_admin_org(get_organisation(session, org_id=plan.org_id).path):
        raise NotFoundError("meeting plan", plan_id)
    return plan


def _describe(session: Session, found: list[plans.Plan]) -> list[PlanOut]:
    orgs = names_of(session, Organisation, {p.org_id for p in found})
    sites = names_of(session, SiteRow, {p.site_id for p in found})
    now = datetime.now(UTC)
    out = []
    for p in found:
        upcoming = plans.plan_meetings(session, plan_id=p.id, after=now)
        out.append(
            PlanOut(
                id=p.id,
                org_id=p.org_id,
                org_name=orgs.get(p.org_id, ""),
                site_id=p.site_id,
                site_name=sites.get(p.site_id) if p.site_id else None,
                kind=p.kind,
                title=p.title,
                topic=p.topic,
                tz=p.tz,
                frequency=p.rule.frequency,
                weekday=p.rule.weekday,
                nth=p.rule.nth,
                day_of_month=p.rule.day_of_month,
                month_of_quarter=p.rule.month_of_quarter,
                time=p.start_time.strftime("%H:%M"),
                duration_min=int(p.duration.total_seconds() // 60),
                starts_on=p.starts_on,
                until=p.until,
                host_member_id=p.host_member_id,
                recorder_member_id=p.recorder_member_id,
                active=p.active,
                scheduled_through=p.generated_through,
                next_meetings=[
                    PlannedMeeting(meeting_id=i, start=s, start_local=local_iso(s, p.tz))
                    for i, s in upcoming
                ],
                created_at=p.created_at,
                updated_at=p.updated_at,
            )
        )
    return out


def _rule(
    frequency: Frequency, weekday: int | None, nth: int | None, day: int | None, month: int | None
) -> Rule:
    return Rule(frequency, weekday, nth, day, month).check()


def _time(value: str) -> time:
    hours, minutes = (int(p) for p in value.split(":"))
    return time(hours, minutes)


def _today(now: datetime, tz: str) -> date:
    return now.astimezone(zone(tz)).date()


def _audit(
    session: Session, user: Principal, action: str, plan_id: int, detail: dict[str, Any]
) -> None:
    record_audit(
        session,
        actor=user.username,
        actor_user_id=user.user_id or None,
        action=action,
        detail={"plan_id": plan_id, **detail},
    )
