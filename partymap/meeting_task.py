"""The meeting task of ``partymap serve`` and ``partymap demo`` (in a cluster: of the worker
holding the meetings' lease, :mod:`partymap.cluster.meetings`): every
``PARTYMAP_MEETINGS_TICK_SECONDS`` it

0. (first tick) counts the meetings per month of the reporting zone for the statistics
   (:mod:`store.rollup`), unless they already are in this zone;
1. records the attendance of meetings that ended at least
   ``PARTYMAP_MEETINGS_RECORD_GRACE_SECONDS`` ago (late, store-and-forward fixes still count);
2. schedules the meetings of recurring plans up to ``PARTYMAP_MEETINGS_PLAN_HORIZON_DAYS`` ahead;
3. raises an ``overdue`` alert for each organisation whose last whole period passed without a
   required meeting (recording raises ``absent_streak`` and ``low_attendance`` itself);
4. publishes on this process's live feed what happened: ``meeting`` events when a meeting
   starts, ends or is recorded, and ``alert`` events for every alert raised.

Every step is safe with several processes running it (workers of a cluster while a lost lease
holder is noticed, or ``serve`` beside ``demo`` on one database): recording is claimed per
meeting, plan horizons per plan, alerts are unique rows. Step 4 reads the database, not what
this process did: each process publishes every meeting change and alert once to its own
subscribers, whichever process made it. A tick that fails (the database is away) is logged and
the next one tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.statistics import requirements
from partymap.settings import Settings
from store import rollup
from store.alerts import OVERDUE, AlertRules, alerts_since, raise_alert
from store.attendance import due_meetings, record_meeting
from store.db import make_sessionmaker
from store.errors import StoreError
from store.live import LiveFeed
from store.models import MeetingRow, MeetingStatus, Organisation
from store.plans import schedule_ahead
from store.watch import last_period, overdue

log = logging.getLogger(__name__)

# Changes and alerts are looked for this far back, so that one committed by another process
# a little after this one's last look is still seen (each is published once: ids are kept).
LOOKBACK = timedelta(minutes=10)
RECORD_BATCH = 200


@dataclass
class TickReport:
    recorded: list[int] = field(default_factory=list)
    scheduled: int = 0
    overdue_raised: int = 0
    published: int = 0


class MeetingTask:
    """One process's meeting task. ``tick(now)`` does one round (in a worker thread when
    run by :meth:`run`); ``clock`` gives the time (tests pass their own)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        live: LiveFeed,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.sessions: sessionmaker[Session] = make_sessionmaker(engine, immediate=True)
        self.live = live
        self.clock = clock
        self.started_at = clock()
        self.rules = AlertRules(
            absent_streak=settings.meetings_alert_absent_streak,
            min_rate=settings.meetings_alert_min_rate,
        )
        self._published: dict[tuple[str, int], datetime] = {}
        self._overdue_checked: set[tuple[str, str]] = set()
        self.ticks = 0
        self._rollup_ready = False

    async def run(self) -> None:
        """Tick until cancelled."""
        period = self.settings.meetings_tick_seconds
        while True:
            try:
                await asyncio.to_thread(self.tick, self.clock())
            except (SQLAlchemyError, StoreError, OSError) as exc:
                log.warning("meeting task: %s; trying again in %.0f s", exc, period)
            await asyncio.sleep(period)

    def tick(self, now: datetime) -> TickReport:
        report = TickReport()
        if not self._rollup_ready:
            self._build_rollup()
        report.recorded = self._record(now)
        report.scheduled = self._schedule(now)
        report.overdue_raised = self._raise_overdue(now)
        report.published = self._publish(now)
        self.ticks += 1
        return report

    def _build_rollup(self) -> None:
        """Count the meetings per month of the reporting zone for the statistics, unless
        they already are (in this zone)."""
        tz = self.settings.meetings_tz
        with self.sessions() as session:
            made = rollup.ensure(session, tz)
            session.commit()
        if made is not None:
            log.info("meeting task: %d rollup rows counted in %s", made, tz)
        self._rollup_ready = True

    def _record(self, now: datetime) -> list[int]:
        grace = self.settings.meetings_record_grace_seconds
        with self.sessions() as session:
            due = due_meetings(session, now=now, grace_s=grace, limit=RECORD_BATCH)
        done = []
        for meeting_id in due:
            with self.sessions() as session:
                if record_meeting(session, meeting_id=meeting_id, now=now, rules=self.rules):
                    done.append(meeting_id)
                session.commit()
        if done:
            log.info("meeting task: recorded the attendance of meetings %s", done)
        return done

    def _schedule(self, now: datetime) -> int:
        with self.sessions() as session:
            made = schedule_ahead(
                session, now=now, horizon_days=self.settings.meetings_plan_horizon_days
            )
            session.commit()
        return made

    def _raise_overdue(self, now: datetime) -> int:
        """Once per required kind and period: the period that ended (plus the recording grace)
        is checked, and each organisation that missed it gets an alert."""
        tz = self.settings.meetings_tz
        grace = timedelta(seconds=self.settings.meetings_record_grace_seconds)
        raised = 0
        for req in requirements(self.settings):
            period = last_period(req.period, tz, now - grace)
            key = (req.kind.value, period[0].isoformat())
            if key in self._overdue_checked:
                continue
            with self.sessions() as session:
                for o in overdue(
                    session, root_id=None, requirements=[req], tz=tz, now=now, grace=grace
                ):
                    raised += raise_alert(
                        session,
                        kind=OVERDUE,
                        key=f"{OVERDUE}:{o.org_id}:{o.kind.value}:{o.period_start.isoformat()}",
                        org_id=o.org_id,
                        detail={
                            "meeting_kind": o.kind.value,
                            "period_start": o.period_start.isoformat(),
                            "period_end": o.period_end.isoformat(),
                            "held": o.held,
                            "required": o.required,
                        },
                        now=now,
                    )
                session.commit()
            self._overdue_checked.add(key)
        return raised

    def _publish(self, now: datetime) -> int:
        since = max(self.started_at, now - LOOKBACK)
        events: list[Mapping[str, Any]] = []
        with self.sessions() as session:
            for alert in alerts_since(session, since=since):
                if self._fresh(("alert", alert.id), now):
                    events.append(alert.event())
            events += self._meeting_events(session, since, now)
        self._forget(now)
        self.live.publish_many(events)
        return len(events)

    def _meeting_events(
        self, session: Session, since: datetime, now: datetime
    ) -> list[dict[str, Any]]:
        m = MeetingRow
        rows = session.execute(
            select(m, Organisation.path)
            .join(Organisation, Organisation.id == m.org_id)
            .where(
                m.status == MeetingStatus.SCHEDULED,
                or_(
                    m.start_at.between(since, now),
                    m.end_at.between(since, now),
                    m.recorded_at >= since,
                ),
            )
            .order_by(m.start_at, m.id)
        ).all()
        events = []
        for row, path in rows:
            changes = [
                ("in_progress", row.start_at <= now and row.start_at >= since),
                ("ended", row.end_at <= now and row.end_at >= since),
                ("recorded", row.recorded_at is not None and row.recorded_at >= since),
            ]
            for state, happened in changes:
                if happened and self._fresh((state, row.id), now):
                    events.append(_meeting_event(row, path, state))
        return events

    def _fresh(self, key: tuple[str, int], now: datetime) -> bool:
        if key in self._published:
            return False
        self._published[key] = now
        return True

    def _forget(self, now: datetime) -> None:
        old = [k for k, at in self._published.items() if at < now - 2 * LOOKBACK]
        for key in old:
            del self._published[key]


def _meeting_event(row: MeetingRow, path: str, state: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "meeting",
        "state": state,
        "meeting_id": row.id,
        "org_id": row.org_id,
        "org_path": path,
        "kind": row.kind.value,
        "title": row.title,
        "start": row.start_at.isoformat(),
        "end": row.end_at.isoformat(),
        "tz": row.tz,
    }
    if state == "recorded" and row.expected_n is not None:
        attended = (row.present_n or 0) + (row.late_n or 0) + (row.left_early_n or 0)
        event["summary"] = {
            "expected": row.expected_n,
            "attended": attended,
            "excused": row.excused_n,
            "absent": row.absent_n,
            "late": row.late_n,
            "left_early": row.left_early_n,
            "rate": round(attended / row.expected_n, 4) if row.expected_n else None,
        }
    return event
