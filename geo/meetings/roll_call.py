"""Meeting attendance (三会一课 and 主题党日) from visits (DESIGN §4).

For each member of the meeting's organisation, the visits to the meeting's site that were
checked in and overlap [``start − early``, ``end``) count; a visit that began hours before and
is still going counts too. Then, in this order:

* none: ``absent``;
* the last of them ended before ``end − left_early_margin``: ``left_early``;
* the first check-in at or before ``start + late_grace``: ``present``;
* otherwise ``late``.

Visits without a check-in (walking past, a dwell cut short) never count. The evidence of an
attendance is that of its first counted check-in: ``beidou`` when BeiDou-verified, else ``gnss``
(``terminal`` for a JT/T 808 terminal's fixes, ``phone`` or ``qr`` for a check-in made at the
meeting from a member's phone).
A meeting without a site has no visits to count: everyone is ``absent`` until corrected by hand.

>>> from datetime import datetime, timedelta, UTC
>>> from geo.model import Meeting, MeetingKind, Visit
>>> start = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
>>> meeting = Meeting(id=1, org_id=5, site_id=9, kind=MeetingKind.PARTY_LECTURE, start=start,
...                   end=start + timedelta(hours=1))
>>> visits = [Visit(7, 9, start - timedelta(minutes=3), None, start - timedelta(minutes=3))]
>>> [(a.member_id, a.outcome.value) for a in attendance(meeting, [7, 8], visits)]
[(7, 'present'), (8, 'absent')]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from geo.model import (
    Attendance,
    AttendanceOutcome,
    CheckIn,
    EvidenceKind,
    Meeting,
    Visit,
    VisitEnded,
)


def counts_for(meeting: Meeting, visit: Visit) -> bool:
    """Whether a visit counts towards this meeting's attendance."""
    return (
        meeting.site_id is not None
        and visit.site_id == meeting.site_id
        and visit.checkin_at is not None
        and visit.start < meeting.end
        and (visit.end is None or visit.end > meeting.start - meeting.early)
    )


def outcome(meeting: Meeting, member_id: int, visits: Sequence[Visit]) -> Attendance:
    """The attendance of one member, from that member's visits (any site, any time)."""
    counted = [v for v in visits if counts_for(meeting, v)]
    if not counted:
        return Attendance(meeting.id, member_id, AttendanceOutcome.ABSENT)
    first = min(counted, key=lambda v: v.checkin_at or v.start)
    first_checkin = first.checkin_at
    assert first_checkin is not None  # counted visits were checked in
    evidence = first.evidence_kind
    ends = [v.end for v in counted]
    last_leave = None if None in ends else max(e for e in ends if e is not None)
    if last_leave is not None and last_leave < meeting.end - meeting.left_early_margin:
        result = AttendanceOutcome.LEFT_EARLY
    elif first_checkin <= meeting.start + meeting.late_grace:
        result = AttendanceOutcome.PRESENT
    else:
        result = AttendanceOutcome.LATE
    return Attendance(meeting.id, member_id, result, first_checkin, last_leave, evidence)


def attendance(
    meeting: Meeting, members: Iterable[int], visits: Iterable[Visit]
) -> list[Attendance]:
    """One :class:`Attendance` per member of the meeting's organisation, in ``members`` order."""
    by_member: dict[int, list[Visit]] = defaultdict(list)
    for v in visits:
        by_member[v.member_id].append(v)
    return [outcome(meeting, m, by_member.get(m, [])) for m in members]


def visits_from_events(events: Iterable[CheckIn | VisitEnded]) -> list[Visit]:
    """Fold presence events into visits: ended ones, then those still going after a check-in.

    A check-in is timed at the visit's first inside fix, so it opens the visit of that start.
    """
    ended: list[Visit] = []
    open_visits: dict[tuple[int, int, object], Visit] = {}
    for e in events:
        if isinstance(e, CheckIn):
            key = (e.member_id, e.site_id, e.time)
            open_visits[key] = Visit(
                e.member_id, e.site_id, e.time, None, e.time, e.beidou_verified
            )
        else:
            opened = open_visits.pop((e.member_id, e.site_id, e.start), None)
            checkin = e.start if e.checked_in else None
            verified = opened is not None and opened.beidou_verified
            ended.append(Visit(e.member_id, e.site_id, e.start, e.end, checkin, verified))
    return ended + list(open_visits.values())


def as_of(
    decided: Attendance,
    *,
    ended: bool,
    excused: bool = False,
    corrected: AttendanceOutcome | None = None,
) -> Attendance:
    """The status that counts, from the visits' decision: before the end a member not yet
    there is ``pending`` (未到), not absent; approved leave excuses an absence or an early
    departure (someone on leave who came anyway keeps present or late); a correction (补签)
    overrides everything and rests on ``manual`` evidence.

    >>> from datetime import datetime, UTC
    >>> absent = Attendance(1, 7, AttendanceOutcome.ABSENT)
    >>> as_of(absent, ended=False).outcome.value, as_of(absent, ended=True).outcome.value
    ('pending', 'absent')
    >>> as_of(absent, ended=False, excused=True).outcome.value
    'excused'
    >>> fixed = as_of(absent, ended=True, corrected=AttendanceOutcome.PRESENT)
    >>> fixed.outcome.value, fixed.evidence.value
    ('present', 'manual')
    """
    result = decided
    if not ended and decided.outcome is AttendanceOutcome.ABSENT:
        result = replace(decided, outcome=AttendanceOutcome.PENDING)
    if excused and result.outcome in EXCUSABLE:
        result = replace(result, outcome=AttendanceOutcome.EXCUSED)
    if corrected is not None:
        result = replace(result, outcome=corrected, evidence=EvidenceKind.MANUAL)
    return result


# What approved leave turns into 请假: not coming, not yet there, or leaving early.
EXCUSABLE = frozenset(
    {AttendanceOutcome.ABSENT, AttendanceOutcome.PENDING, AttendanceOutcome.LEFT_EARLY}
)
