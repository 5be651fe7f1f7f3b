"""A meeting's attendance: live while it goes on, recorded when it ends, corrected after.

:func:`attendance_sheet` is what every reader shows (API, files, screen). Before a meeting is
recorded it is decided afresh from the roll (the active members of the organisation's
subtree), their visits, approved leave and corrections, as of ``now``: members not yet there
are ``pending`` (未到) until the end. :func:`record_meeting` stores it once the meeting has
ended, with a summary on the meeting row for statistics; the roll is then frozen, and
recording again (by hand, after late visits arrived) re-decides the same members.

A correction (补签, :func:`correct_attendance`) is kept beside the automatic decision: the row's
``outcome`` stays, its ``status`` follows the latest correction, whose evidence is ``manual``.

Recording is claimed with one conditional UPDATE of the meeting row (``recorded_at IS NULL``):
any number of processes may run the recording task, and exactly one records each meeting.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from geo.meetings.roll_call import as_of, attendance
from geo.model import Attendance, AttendanceOutcome, EvidenceKind
from store.alerts import ABSENT_STREAK, LOW_ATTENDANCE, AlertRules, raise_alert
from store.errors import ConflictError, InvalidValueError
from store.leave import Leave, leave_value, meeting_leave
from store.meetings import (
    MeetingInfo,
    Summary,
    as_info,
    meeting_row,
    roll_visits,
)
from store.members import member_ids
from store.models import (
    AbsenceRunRow,
    AttendanceCorrectionRow,
    AttendanceRow,
    LeaveRow,
    LeaveStatus,
    MeetingRow,
    MeetingStatus,
)
from store.query import page
from store.types import utcnow

STATUSES = tuple(AttendanceOutcome)
# What a correction may set: any recorded status (pending exists only while a meeting goes on).
CORRECTABLE = tuple(s for s in AttendanceOutcome if s is not AttendanceOutcome.PENDING)


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    meeting_id: int
    member_id: int
    old_status: AttendanceOutcome
    new_status: AttendanceOutcome
    reason: str
    actor: str
    actor_user_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """One member's line: the ``status`` that counts, the automatic ``outcome`` (visits,
    then leave) beside it, the ``evidence`` of the status (``manual`` when corrected) and of
    the check-in, and the member's leave and latest correction."""

    member_id: int
    status: AttendanceOutcome
    outcome: AttendanceOutcome
    evidence: EvidenceKind | None
    checkin_evidence: EvidenceKind | None
    first_checkin: datetime | None
    last_leave: datetime | None
    leave: Leave | None
    correction: Correction | None


@dataclass(frozen=True, slots=True)
class Sheet:
    """A meeting's attendance as it stands (``recorded``: as stored)."""

    info: MeetingInfo
    entries: tuple[Entry, ...]

    @property
    def recorded(self) -> bool:
        return self.info.recorded_at is not None

    def counts(self) -> dict[str, int]:
        found = {s.value: 0 for s in STATUSES}
        for entry in self.entries:
            found[entry.status.value] += 1
        return found

    def summary(self) -> Summary:
        """应到 and each status; members still ``pending`` count as absent."""
        n = self.counts()
        return Summary(
            expected=len(self.entries),
            present=n["present"],
            late=n["late"],
            left_early=n["left_early"],
            absent=n["absent"] + n["pending"],
            excused=n["excused"],
        )


def attendance_sheet(session: Session, *, meeting_id: int, now: datetime | None = None) -> Sheet:
    """The meeting's attendance: as recorded, or as it stands at ``now`` (nothing is written).
    A cancelled meeting has none."""
    row = meeting_row(session, meeting_id)
    info = as_info(row)
    if row.status is MeetingStatus.CANCELLED:
        return Sheet(info, ())
    if row.recorded_at is not None:
        return Sheet(info, tuple(_stored_entries(session, meeting_id)))
    at = now or utcnow()
    return Sheet(info, tuple(_decide(session, row, None, ended=at >= row.end_at)))


def record_meeting(
    session: Session,
    *,
    meeting_id: int,
    now: datetime | None = None,
    again: bool = False,
    rules: AlertRules | None = None,
) -> Sheet | None:
    """Record the attendance of a meeting that has ended; the caller commits.

    Returns None when another process recorded it first (or, without ``again``, it already
    was). ``again``: re-decide an already recorded meeting for the members on its roll then
    (by hand, after late visits arrived); corrections stay in force. Refuses a cancelled
    meeting or one that has not ended.
    """
    at = now or utcnow()
    row = meeting_row(session, meeting_id)
    if row.status is MeetingStatus.CANCELLED:
        raise ConflictError(f"meeting {meeting_id} is cancelled: it has no attendance")
    if at < row.end_at:
        raise ConflictError(
            f"meeting {meeting_id} ends at {row.end_at.isoformat()}: its attendance is "
            "recorded once it has ended"
        )
    claim = (
        update(MeetingRow)
        .where(MeetingRow.id == meeting_id, MeetingRow.status == MeetingStatus.SCHEDULED)
        .values(recorded_at=at, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    if not again:
        claim = claim.where(MeetingRow.recorded_at.is_(None))
    if not getattr(session.execute(claim), "rowcount", 0):
        return None
    session.refresh(row)
    frozen = None
    if again:
        frozen = list(
            session.scalars(
                select(AttendanceRow.member_id).where(AttendanceRow.meeting_id == meeting_id)
            )
        )
    entries = _decide(session, row, frozen or None, ended=True)
    session.execute(delete(AttendanceRow).where(AttendanceRow.meeting_id == meeting_id))
    if entries:
        session.execute(
            insert(AttendanceRow),
            [
                {
                    "meeting_id": meeting_id,
                    "member_id": e.member_id,
                    "outcome": e.outcome,
                    "status": e.status,
                    "evidence": e.checkin_evidence,
                    "correction_id": e.correction.id if e.correction else None,
                    "first_checkin_at": e.first_checkin,
                    "last_leave_at": e.last_leave,
                    "computed_at": at,
                }
                for e in entries
            ],
        )
    sheet = Sheet(as_info(row), tuple(entries))
    _store_summary(session, row, sheet.summary())
    _after_change(session, row, [e.member_id for e in entries], rules, at)
    session.flush()
    return Sheet(as_info(row), tuple(entries))


def due_meetings(session: Session, *, now: datetime, grace_s: float, limit: int = 200) -> list[int]:
    """Scheduled meetings not yet recorded that ended at least ``grace_s`` seconds ago."""
    stmt = (
        select(MeetingRow.id)
        .where(
            MeetingRow.recorded_at.is_(None),
            MeetingRow.status == MeetingStatus.SCHEDULED,
            MeetingRow.end_at <= now - timedelta(seconds=grace_s),
        )
        .order_by(MeetingRow.end_at, MeetingRow.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def correct_attendance(
    session: Session,
    *,
    meeting_id: int,
    member_id: int,
    status: AttendanceOutcome,
    reason: str,
    actor: str,
    actor_user_id: int | None = None,
    now: datetime | None = None,
    rules: AlertRules | None = None,
) -> Correction:
    """A secretary's correction of one member's status (补签), after the meeting ended (a
    meeting without a site: once it has started, as attendance there is taken by hand)."""
    at = now or utcnow()
    row = meeting_row(session, meeting_id)
    if row.status is MeetingStatus.CANCELLED:
        raise ConflictError(f"meeting {meeting_id} is cancelled: it has no attendance")
    opens = row.start_at if row.site_id is None else row.end_at
    if at < opens:
        what = "starts" if row.site_id is None else "ends"
        raise ConflictError(
            f"meeting {meeting_id} {what} at {opens.isoformat()}: its attendance can be "
            "corrected after that"
        )
    if status not in CORRECTABLE:
        raise InvalidValueError(f"a correction cannot set {status.value!r}")
    sheet = attendance_sheet(session, meeting_id=meeting_id, now=at)
    current = next((e for e in sheet.entries if e.member_id == member_id), None)
    if current is None:
        raise InvalidValueError(f"member {member_id} is not on meeting {meeting_id}'s roll")
    if current.status is status:
        raise ConflictError(f"member {member_id} is already {status.value} at meeting {meeting_id}")
    correction = AttendanceCorrectionRow(
        meeting_id=meeting_id,
        member_id=member_id,
        old_status=current.status,
        new_status=status,
        reason=reason,
        actor=actor,
        actor_user_id=actor_user_id,
        at=at,
    )
    session.add(correction)
    session.flush()
    if row.recorded_at is not None:
        session.execute(
            update(AttendanceRow)
            .where(AttendanceRow.meeting_id == meeting_id, AttendanceRow.member_id == member_id)
            .values(status=status, correction_id=correction.id)
        )
        _store_summary(session, row, _stored_summary(session, meeting_id))
        row.updated_at = at
        _after_change(session, row, [member_id], rules, at)
        session.flush()
    return _correction(correction)


def list_corrections(
    session: Session,
    *,
    meeting_id: int,
    member_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Correction]:
    """A meeting's corrections, oldest first."""
    stmt = (
        select(AttendanceCorrectionRow)
        .where(AttendanceCorrectionRow.meeting_id == meeting_id)
        .order_by(AttendanceCorrectionRow.at, AttendanceCorrectionRow.id)
    )
    if member_id is not None:
        stmt = stmt.where(AttendanceCorrectionRow.member_id == member_id)
    return [_correction(r) for r in session.scalars(page(stmt, limit=limit, offset=offset))]


def refresh_absence_runs(
    session: Session, *, member_ids: Collection[int] | None = None, now: datetime | None = None
) -> dict[int, int]:
    """Recount how many of their latest recorded meetings in a row each member was absent
    from (all members when None), one set-based statement; the new runs by member."""
    ids = None if member_ids is None else sorted(set(member_ids))
    if ids == []:
        return {}
    where = "" if ids is None else "WHERE a.member_id IN :ids"
    stmt = text(
        "SELECT member_id, "
        "COALESCE(MIN(CASE WHEN status <> 'absent' THEN rn END), COUNT(*) + 1) - 1, "
        "MAX(CASE WHEN rn = 1 THEN meeting_id END) FROM ("
        "SELECT a.member_id, a.status, a.meeting_id, row_number() OVER ("
        "PARTITION BY a.member_id ORDER BY m.start_at DESC, m.id DESC) AS rn "
        f"FROM attendance a JOIN meetings m ON m.id = a.meeting_id {where}) ranked "
        "GROUP BY member_id"
    )
    if ids is not None:
        stmt = stmt.bindparams(bindparam("ids", expanding=True))
    found = session.execute(stmt, {"ids": ids} if ids is not None else {}).all()
    stamp = now or utcnow()
    rows = [
        {"member_id": m, "absent_run": int(run), "last_meeting_id": last, "updated_at": stamp}
        for m, run, last in found
    ]
    runs = {r["member_id"]: r["absent_run"] for r in rows}
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for chunk in _chunks(rows, 5000):
        stmt_up = upsert(AbsenceRunRow)
        session.execute(
            stmt_up.on_conflict_do_update(
                index_elements=["member_id"],
                set_={
                    "absent_run": stmt_up.excluded.absent_run,
                    "last_meeting_id": stmt_up.excluded.last_meeting_id,
                    "updated_at": stmt_up.excluded.updated_at,
                },
            ),
            chunk,
        )
    return runs


def absence_runs(session: Session, *, member_ids: Collection[int]) -> dict[int, int]:
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(AbsenceRunRow.member_id, AbsenceRunRow.absent_run).where(
            AbsenceRunRow.member_id.in_(ids)
        )
    )
    return dict(rows.all())


def _decide(
    session: Session, row: MeetingRow, frozen: Sequence[int] | None, *, ended: bool
) -> list[Entry]:
    meeting = as_info(row).meeting
    members = (
        list(frozen)
        if frozen is not None
        else member_ids(session, org_id=row.org_id, include_subtree=True)
    )
    visits = roll_visits(session, meeting, members)
    leave = meeting_leave(session, meeting_id=row.id)
    latest = _latest_corrections(session, row.id)
    entries = []
    for decided in attendance(meeting, members, visits):
        on_leave = leave.get(decided.member_id)
        excused = on_leave is not None and on_leave.status is LeaveStatus.APPROVED
        automatic = as_of(decided, ended=ended, excused=excused)
        correction = latest.get(decided.member_id)
        shown: Attendance = automatic
        if correction is not None:
            shown = as_of(automatic, ended=ended, corrected=correction.new_status)
        entries.append(
            Entry(
                member_id=decided.member_id,
                status=shown.outcome,
                outcome=automatic.outcome,
                evidence=shown.evidence,
                checkin_evidence=decided.evidence,
                first_checkin=decided.first_checkin,
                last_leave=decided.last_leave,
                leave=on_leave,
                correction=correction,
            )
        )
    return entries


def _stored_entries(session: Session, meeting_id: int) -> list[Entry]:
    rows = session.execute(
        select(AttendanceRow, AttendanceCorrectionRow)
        .outerjoin(
            AttendanceCorrectionRow, AttendanceCorrectionRow.id == AttendanceRow.correction_id
        )
        .where(AttendanceRow.meeting_id == meeting_id)
        .order_by(AttendanceRow.member_id)
    )
    leave = meeting_leave(session, meeting_id=meeting_id)
    return [_entry(a, c, leave.get(a.member_id)) for a, c in rows]


def _latest_corrections(session: Session, meeting_id: int) -> dict[int, Correction]:
    found: dict[int, Correction] = {}
    for c in list_corrections(session, meeting_id=meeting_id):
        found[c.member_id] = c  # oldest first: the last one wins
    return found


def _stored_summary(session: Session, meeting_id: int) -> Summary:
    counts = dict(
        session.execute(
            select(AttendanceRow.status, func.count())
            .where(AttendanceRow.meeting_id == meeting_id)
            .group_by(AttendanceRow.status)
        ).all()
    )
    n = {s: int(counts.get(s, 0)) for s in STATUSES}
    return Summary(
        expected=sum(n.values()),
        present=n[AttendanceOutcome.PRESENT],
        late=n[AttendanceOutcome.LATE],
        left_early=n[AttendanceOutcome.LEFT_EARLY],
        absent=n[AttendanceOutcome.ABSENT] + n[AttendanceOutcome.PENDING],
        excused=n[AttendanceOutcome.EXCUSED],
    )


def _store_summary(session: Session, row: MeetingRow, summary: Summary) -> None:
    row.expected_n = summary.expected
    row.present_n = summary.present
    row.late_n = summary.late
    row.left_early_n = summary.left_early
    row.absent_n = summary.absent
    row.excused_n = summary.excused


def _after_change(
    session: Session,
    row: MeetingRow,
    members: Sequence[int],
    rules: AlertRules | None,
    now: datetime,
) -> None:
    """Absence runs of the members, and the alerts the change raises."""
    session.flush()
    before = absence_runs(session, member_ids=members) if rules else {}
    runs = refresh_absence_runs(session, member_ids=members, now=now)
    if rules is None:
        return
    for member_id, run in runs.items():
        if run >= rules.absent_streak > before.get(member_id, 0):
            raise_alert(
                session,
                kind=ABSENT_STREAK,
                key=f"{ABSENT_STREAK}:{member_id}:{row.id}",
                org_id=row.org_id,
                member_id=member_id,
                meeting_id=row.id,
                detail={"absent_run": run},
                now=now,
            )
    summary = as_info(row).summary
    if summary is not None and summary.rate is not None and summary.rate < rules.min_rate:
        raise_alert(
            session,
            kind=LOW_ATTENDANCE,
            key=f"{LOW_ATTENDANCE}:{row.id}",
            org_id=row.org_id,
            meeting_id=row.id,
            detail={
                "rate": summary.rate,
                "expected": summary.expected,
                "attended": summary.attended,
                "meeting_kind": row.kind.value,
                "start": row.start_at.isoformat(),
            },
            now=now,
        )


def _correction(row: AttendanceCorrectionRow) -> Correction:
    return Correction(
        id=row.id,
        meeting_id=row.meeting_id,
        member_id=row.member_id,
        old_status=row.old_status,
        new_status=row.new_status,
        reason=row.reason,
        actor=row.actor,
        actor_user_id=row.actor_user_id,
        at=row.at,
    )


def _chunks(rows: list[dict[str, object]], size: int) -> list[list[dict[str, object]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def stored_entries(
    session: Session, *, meeting_ids: Sequence[int], chunk: int = 1000
) -> dict[int, list[Entry]]:
    """The recorded lines of many meetings at once (a period's report), by meeting, each
    meeting's by member id: a few set-based queries whatever their number."""
    found: dict[int, list[Entry]] = {m: [] for m in meeting_ids}
    for n in range(0, len(meeting_ids), chunk):
        part = list(meeting_ids[n : n + chunk])
        leave = _leave_of(session, part)
        a, c = AttendanceRow, AttendanceCorrectionRow
        # Columns rather than ORM rows: a quarter of a large subtree is 60,000 lines.
        rows = session.execute(
            select(
                a.meeting_id,
                a.member_id,
                a.status,
                a.outcome,
                a.evidence,
                a.first_checkin_at,
                a.last_leave_at,
                c.id,
                c.old_status,
                c.new_status,
                c.reason,
                c.actor,
                c.actor_user_id,
                c.at,
            )
            .outerjoin(c, c.id == a.correction_id)
            .where(a.meeting_id.in_(part))
            .order_by(a.meeting_id, a.member_id)
        ).all()
        for m, member, status, outcome, evidence, first, last, cid, *fix in rows:
            correction = (
                Correction(cid, m, member, fix[0], fix[1], fix[2], fix[3], fix[4], fix[5])
                if cid is not None
                else None
            )
            found[m].append(
                Entry(
                    member_id=member,
                    status=status,
                    outcome=outcome,
                    evidence=EvidenceKind.MANUAL if correction else evidence,
                    checkin_evidence=evidence,
                    first_checkin=first,
                    last_leave=last,
                    leave=leave.get((m, member)),
                    correction=correction,
                )
            )
    return found


def _leave_of(session: Session, meeting_ids: list[int]) -> dict[tuple[int, int], Leave]:
    rows = session.scalars(
        select(LeaveRow).where(
            LeaveRow.meeting_id.in_(meeting_ids), LeaveRow.status != LeaveStatus.WITHDRAWN
        )
    )
    return {(r.meeting_id, r.member_id): leave_value(r) for r in rows}


def _entry(a: AttendanceRow, c: AttendanceCorrectionRow | None, leave: Leave | None) -> Entry:
    return Entry(
        member_id=a.member_id,
        status=a.status,
        outcome=a.outcome,
        evidence=EvidenceKind.MANUAL if c is not None else a.evidence,
        checkin_evidence=a.evidence,
        first_checkin=a.first_checkin_at,
        last_leave=a.last_leave_at,
        leave=leave,
        correction=_correction(c) if c is not None else None,
    )
