"""Recurring meeting plans ("支委会, monthly, first Tuesday 15:00") and the meetings they
schedule ahead.

:func:`schedule_ahead` turns each active plan's occurrences (:mod:`geo.meetings.recurrence`) up to a
horizon into meetings, once each: a meeting carries its plan and occurrence date (unique
together), inserts skip occurrences that exist, and a plan is claimed by advancing its
``generated_through`` with a conditional UPDATE, so any number of processes may run it.
Occurrences already past are not scheduled. A generated meeting is an ordinary meeting:
it can be edited (it then stays as edited), cancelled or recorded. Changing or stopping a
plan removes its future meetings nobody has touched yet (not edited, no leave, no
correction) and schedules again from the new rule.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from geo.meetings.recurrence import Frequency, Rule, occurrences, to_utc, zone
from geo.model import MeetingKind
from store import rollup
from store.errors import InvalidValueError, NotFoundError
from store.meetings import EARLY, LATE_GRACE, LEFT_EARLY_MARGIN
from store.members import get_member
from store.models import (
    AttendanceCorrectionRow,
    LeaveRow,
    MeetingPlanRow,
    MeetingRow,
    MeetingStatus,
)
from store.orgs import get_organisation, org_scope
from store.query import page
from store.sites import get_site
from store.types import utcnow


@dataclass(frozen=True, slots=True)
class Plan:
    id: int
    org_id: int
    site_id: int | None
    kind: MeetingKind
    title: str
    topic: str
    tz: str
    rule: Rule
    start_time: time
    duration: timedelta
    starts_on: date
    until: date | None
    host_member_id: int | None
    recorder_member_id: int | None
    early: timedelta
    late_grace: timedelta
    left_early_margin: timedelta
    active: bool
    generated_through: date | None
    created_at: datetime
    updated_at: datetime

    def start_of(self, day: date) -> datetime:
        """The UTC start of the occurrence on local ``day`` (a time a daylight-saving change
        skips becomes the time as far past the change)."""
        return to_utc(datetime.combine(day, self.start_time), self.tz, strict=False)


# Fields update_plan may change (None leaves them); those in CLEARABLE may be emptied.
CLEARABLE = frozenset({"site_id", "until", "host_member_id", "recorder_member_id"})


def create_plan(
    session: Session,
    *,
    org_id: int,
    site_id: int | None,
    kind: MeetingKind,
    rule: Rule,
    start_time: time,
    duration: timedelta,
    starts_on: date,
    tz: str | None = None,
    until: date | None = None,
    title: str = "",
    topic: str = "",
    host_member_id: int | None = None,
    recorder_member_id: int | None = None,
    early: timedelta = EARLY,
    late_grace: timedelta = LATE_GRACE,
    left_early_margin: timedelta = LEFT_EARLY_MARGIN,
    now: datetime | None = None,
) -> Plan:
    """Add a plan; the caller then schedules its meetings (:func:`schedule_ahead`)."""
    get_organisation(session, org_id=org_id)
    if site_id is not None:
        tz = get_site(session, site_id=site_id).tz
    if tz is None:
        raise InvalidValueError("a plan without a site needs a time zone")
    stamp = now or utcnow()
    row = MeetingPlanRow(
        org_id=org_id,
        site_id=site_id,
        kind=kind,
        title=title,
        topic=topic,
        tz=tz,
        start_time=start_time.strftime("%H:%M"),
        duration_min=_minutes(duration),
        starts_on=starts_on,
        until=until,
        host_member_id=host_member_id,
        recorder_member_id=recorder_member_id,
        early_s=early.total_seconds(),
        late_grace_s=late_grace.total_seconds(),
        left_early_margin_s=left_early_margin.total_seconds(),
        active=True,
        generated_through=None,
        created_at=stamp,
        updated_at=stamp,
    )
    _set_rule(row, rule)
    _check(session, row)
    session.add(row)
    session.flush()
    return as_plan(row)


def get_plan(session: Session, *, plan_id: int) -> Plan:
    return as_plan(_row(session, plan_id))


def list_plans(
    session: Session,
    *,
    within_org_id: int | None = None,
    active: bool | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[Plan]:
    stmt = select(MeetingPlanRow).order_by(MeetingPlanRow.org_id, MeetingPlanRow.id)
    if active is not None:
        stmt = stmt.where(MeetingPlanRow.active.is_(active))
    if within_org_id is not None:
        stmt = stmt.where(org_scope(session, MeetingPlanRow.org_id, within_org_id=within_org_id))
    return [as_plan(r) for r in session.scalars(page(stmt, limit=limit, offset=offset))]


def update_plan(
    session: Session,
    *,
    plan_id: int,
    site_id: int | None = None,
    kind: MeetingKind | None = None,
    rule: Rule | None = None,
    start_time: time | None = None,
    duration: timedelta | None = None,
    starts_on: date | None = None,
    until: date | None = None,
    tz: str | None = None,
    title: str | None = None,
    topic: str | None = None,
    host_member_id: int | None = None,
    recorder_member_id: int | None = None,
    clear: Collection[str] = (),
    now: datetime | None = None,
) -> Plan:
    """Change a plan: its untouched future meetings go, and are scheduled again by the next
    :func:`schedule_ahead`."""
    if unknown := set(clear) - CLEARABLE:
        raise InvalidValueError(f"cannot clear {sorted(unknown)}")
    row = _row(session, plan_id)
    if not row.active:
        raise InvalidValueError(f"plan {plan_id} is stopped: make a new one")
    if site_id is not None:
        row.site_id = site_id
        row.tz = get_site(session, site_id=site_id).tz
    elif "site_id" in clear:
        row.site_id = None
    if tz is not None and row.site_id is None:
        row.tz = tz
    for name, value in (
        ("kind", kind),
        ("title", title),
        ("topic", topic),
        ("starts_on", starts_on),
        ("until", until),
        ("host_member_id", host_member_id),
        ("recorder_member_id", recorder_member_id),
    ):
        if value is not None:
            setattr(row, name, value)
        elif name in clear:
            setattr(row, name, None)
    if rule is not None:
        _set_rule(row, rule)
    if start_time is not None:
        row.start_time = start_time.strftime("%H:%M")
    if duration is not None:
        row.duration_min = _minutes(duration)
    _check(session, row)
    stamp = now or utcnow()
    row.updated_at = stamp
    _drop_untouched(session, plan_id, stamp)
    row.generated_through = None
    session.flush()
    return as_plan(row)


def stop_plan(session: Session, *, plan_id: int, now: datetime | None = None) -> Plan:
    """Stop a plan: no more meetings; its untouched future ones go."""
    row = _row(session, plan_id)
    stamp = now or utcnow()
    row.active = False
    row.updated_at = stamp
    _drop_untouched(session, plan_id, stamp)
    session.flush()
    return as_plan(row)


def schedule_ahead(
    session: Session,
    *,
    now: datetime,
    horizon_days: int,
    plan_ids: Collection[int] | None = None,
) -> int:
    """Schedule the meetings of active plans (or of ``plan_ids``) whose occurrences up to
    ``horizon_days`` ahead (in each plan's zone) are not yet scheduled; the number made.
    The caller commits."""
    stmt = select(MeetingPlanRow).where(MeetingPlanRow.active.is_(True))
    if plan_ids is not None:
        stmt = stmt.where(MeetingPlanRow.id.in_(list(plan_ids)))
    made = 0
    for row in session.scalars(stmt).all():
        today = now.astimezone(zone(row.tz)).date()
        through = today + timedelta(days=horizon_days)
        if row.until is not None:
            through = min(through, row.until)
        if row.generated_through is not None and row.generated_through >= through:
            continue
        first = max(row.starts_on, today)
        if row.generated_through is not None:
            first = max(first, row.generated_through + timedelta(days=1))
        seen = MeetingPlanRow.generated_through
        claim = (
            update(MeetingPlanRow)
            .where(
                MeetingPlanRow.id == row.id,
                seen.is_(None) if row.generated_through is None else seen == row.generated_through,
            )
            .values(generated_through=through)
            .execution_options(synchronize_session=False)
        )
        if not getattr(session.execute(claim), "rowcount", 0):
            continue  # another process is scheduling this plan
        plan = as_plan(row)
        made += _insert(session, plan, occurrences(plan.rule, first, through), now)
    session.flush()
    return made


def _insert(session: Session, plan: Plan, days: list[date], now: datetime) -> int:
    rows = []
    for day in days:
        start = plan.start_of(day)
        if start <= now:
            continue
        rows.append(
            {
                "org_id": plan.org_id,
                "site_id": plan.site_id,
                "kind": plan.kind,
                "title": plan.title,
                "topic": plan.topic,
                "tz": plan.tz,
                "start_at": start,
                "end_at": start + plan.duration,
                "early_s": plan.early.total_seconds(),
                "late_grace_s": plan.late_grace.total_seconds(),
                "left_early_margin_s": plan.left_early_margin.total_seconds(),
                "host_member_id": plan.host_member_id,
                "recorder_member_id": plan.recorder_member_id,
                "status": MeetingStatus.SCHEDULED,
                "plan_id": plan.id,
                "occurrence": day,
                "plan_detached": False,
                "created_at": now,
                "updated_at": now,
            }
        )
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    count = select(func.count()).where(MeetingRow.plan_id == plan.id)
    before = session.scalar(count) or 0
    stmt = insert(MeetingRow).on_conflict_do_nothing(index_elements=["plan_id", "occurrence"])
    session.execute(stmt, rows)
    starts = [r["start_at"] for r in rows]
    rollup.refresh(
        session, ((plan.org_id, plan.kind, s) for s in starts if isinstance(s, datetime))
    )
    return (session.scalar(count) or 0) - before


def _drop_untouched(session: Session, plan_id: int, now: datetime) -> None:
    """Remove the plan's meetings still ahead that nobody has touched."""
    m = MeetingRow
    untouched = (
        m.plan_id == plan_id,
        m.plan_detached.is_(False),
        m.status == MeetingStatus.SCHEDULED,
        m.recorded_at.is_(None),
        m.start_at > now,
        ~exists().where(LeaveRow.meeting_id == m.id),
        ~exists().where(AttendanceCorrectionRow.meeting_id == m.id),
    )
    gone = session.execute(select(m.org_id, m.kind, m.start_at).where(*untouched)).all()
    session.execute(delete(m).where(*untouched).execution_options(synchronize_session=False))
    rollup.refresh(session, ((o, k, s) for o, k, s in gone))


def plan_meetings(
    session: Session, *, plan_id: int, after: datetime, limit: int = 5
) -> list[tuple[int, datetime]]:
    """The plan's next scheduled meetings after ``after``: (meeting id, UTC start)."""
    rows = session.execute(
        select(MeetingRow.id, MeetingRow.start_at)
        .where(
            and_(
                MeetingRow.plan_id == plan_id,
                MeetingRow.start_at > after,
                MeetingRow.status == MeetingStatus.SCHEDULED,
            )
        )
        .order_by(MeetingRow.start_at)
        .limit(limit)
    ).all()
    return [(i, s) for i, s in rows]


def as_plan(row: MeetingPlanRow) -> Plan:
    hours, minutes = (int(p) for p in row.start_time.split(":"))
    return Plan(
        id=row.id,
        org_id=row.org_id,
        site_id=row.site_id,
        kind=row.kind,
        title=row.title,
        topic=row.topic,
        tz=row.tz,
        rule=_rule(row),
        start_time=time(hours, minutes),
        duration=timedelta(minutes=row.duration_min),
        starts_on=row.starts_on,
        until=row.until,
        host_member_id=row.host_member_id,
        recorder_member_id=row.recorder_member_id,
        early=timedelta(seconds=row.early_s),
        late_grace=timedelta(seconds=row.late_grace_s),
        left_early_margin=timedelta(seconds=row.left_early_margin_s),
        active=row.active,
        generated_through=row.generated_through,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _rule(row: MeetingPlanRow) -> Rule:
    return Rule(
        frequency=row.frequency,
        weekday=row.weekday,
        nth=row.nth,
        day_of_month=row.day_of_month,
        month_of_quarter=row.month_of_quarter,
    )


def _set_rule(row: MeetingPlanRow, rule: Rule) -> None:
    rule.check()
    row.frequency = rule.frequency
    row.weekday = rule.weekday
    row.nth = rule.nth
    row.day_of_month = rule.day_of_month
    row.month_of_quarter = rule.month_of_quarter
    if rule.frequency is Frequency.QUARTERLY and rule.month_of_quarter is None:
        row.month_of_quarter = 1


def _check(session: Session, row: MeetingPlanRow) -> None:
    zone(row.tz)
    if row.until is not None and row.until < row.starts_on:
        raise InvalidValueError(
            f"a plan cannot end ({row.until}) before it starts ({row.starts_on})"
        )
    if not 1 <= row.duration_min <= 24 * 60:
        raise InvalidValueError("a planned meeting lasts from a minute to a day")
    for member_id in (row.host_member_id, row.recorder_member_id):
        if member_id is not None:
            get_member(session, member_id=member_id)


def _minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


def _row(session: Session, plan_id: int) -> MeetingPlanRow:
    row = session.get(MeetingPlanRow, plan_id)
    if row is None:
        raise NotFoundError("meeting plan", plan_id)
    return row
