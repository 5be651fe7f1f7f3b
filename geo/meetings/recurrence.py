"""Meeting times in a site's time zone, and the dates a recurring meeting plan falls on.

A local time is read in its zone; one that does not exist there (skipped by a daylight-saving
change) is refused, and one that happens twice is taken at its first occurrence:

>>> to_utc(datetime(2026, 7, 7, 15, 0), "Asia/Shanghai").isoformat()
'2026-07-07T07:00:00+00:00'
>>> to_utc(datetime(2026, 3, 8, 2, 30), "America/New_York")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
geo.errors.ScheduleError: 2026-03-08 02:30 does not exist in America/New_York (...)

A plan recurs weekly (on a weekday), monthly or quarterly (on the ``nth`` weekday, 1–4 or -1
for the last, or on a day of the month, clipped to the month's last day; a quarterly plan in
the ``month_of_quarter``-th month of each quarter):

>>> first_tuesday = Rule(Frequency.MONTHLY, weekday=1, nth=1)   # "支委会, monthly, first Tuesday"
>>> [d.isoformat() for d in occurrences(first_tuesday, date(2026, 1, 1), date(2026, 3, 31))]
['2026-01-06', '2026-02-03', '2026-03-03']
>>> end_of_quarter = Rule(Frequency.QUARTERLY, day_of_month=31, month_of_quarter=3)
>>> [d.isoformat() for d in occurrences(end_of_quarter, date(2026, 1, 1), date(2026, 12, 31))]
['2026-03-31', '2026-06-30', '2026-09-30', '2026-12-31']

Requirements (三会一课: 支委会 monthly, 党课 quarterly…) count calendar periods:

>>> [(a.isoformat(), b.isoformat()) for a, b in periods_within(date(2026, 2, 10),
...                                                           date(2026, 10, 1), "quarter")]
[('2026-04-01', '2026-07-01'), ('2026-07-01', '2026-10-01')]
>>> [a.isoformat() for a in period_of(date(2026, 12, 7), "month")]
['2026-12-01', '2027-01-01']
"""

from __future__ import annotations

import calendar
import enum
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from geo.errors import ScheduleError

QUARTER_STARTS = (1, 4, 7, 10)
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}


class Frequency(enum.Enum):
    """How often a meeting plan recurs."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


def zone(tz: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``tz``, or a :class:`ScheduleError` naming it."""
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown IANA time zone {tz!r}") from exc


def to_utc(value: datetime, tz: str, *, strict: bool = True) -> datetime:
    """``value`` as an aware UTC time: an aware value is converted, a naive one is read as
    local time in ``tz``. ``strict``: refuse a local time a daylight-saving change skips
    (otherwise it becomes the time that far past the change)."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    local = value.replace(tzinfo=zone(tz), fold=0)
    utc = local.astimezone(UTC)
    if strict and utc.astimezone(local.tzinfo).replace(tzinfo=None) != value:
        raise ScheduleError(
            f"{value:%Y-%m-%d %H:%M} does not exist in {tz} (a daylight-saving change skips it)"
        )
    return utc


def local_iso(value: datetime, tz: str) -> str:
    """An aware time as ISO 8601 in ``tz``, with that zone's offset.

    >>> local_iso(datetime(2026, 7, 7, 7, 0, tzinfo=UTC), "Africa/Nairobi")
    '2026-07-07T10:00:00+03:00'
    """
    return value.astimezone(zone(tz)).isoformat()


@dataclass(frozen=True, slots=True)
class Rule:
    """When a plan recurs; :meth:`check` says what is missing or out of range."""

    frequency: Frequency
    weekday: int | None = None  # 0 Monday … 6 Sunday
    nth: int | None = None  # 1–4, or -1: the last such weekday of the month
    day_of_month: int | None = None  # 1–31, clipped to the month's length
    month_of_quarter: int | None = None  # 1–3 (quarterly only; default 1)

    def check(self) -> Rule:
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            raise ScheduleError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday}")
        if self.nth is not None and self.nth not in (1, 2, 3, 4, -1):
            raise ScheduleError(f"nth must be 1 to 4, or -1 for the last, not {self.nth}")
        if self.day_of_month is not None and not 1 <= self.day_of_month <= 31:
            raise ScheduleError(f"day_of_month must be 1 to 31, not {self.day_of_month}")
        if self.month_of_quarter is not None:
            if self.frequency is not Frequency.QUARTERLY:
                raise ScheduleError("month_of_quarter is for quarterly plans only")
            if not 1 <= self.month_of_quarter <= 3:
                raise ScheduleError(f"month_of_quarter must be 1 to 3, not {self.month_of_quarter}")
        if self.frequency is Frequency.WEEKLY:
            if self.weekday is None or self.nth is not None or self.day_of_month is not None:
                raise ScheduleError("a weekly plan takes a weekday only")
        elif self.day_of_month is not None:
            if self.weekday is not None or self.nth is not None:
                raise ScheduleError("give either day_of_month, or weekday with nth, not both")
        elif self.weekday is None or self.nth is None:
            raise ScheduleError(
                f"a {self.frequency.value} plan needs day_of_month, or weekday with nth"
            )
        return self


def occurrences(rule: Rule, first: date, last: date) -> list[date]:
    """The dates in [first, last] the rule falls on, earliest first."""
    rule.check()
    if last < first:
        return []
    if rule.frequency is Frequency.WEEKLY:
        assert rule.weekday is not None
        day = first + timedelta(days=(rule.weekday - first.weekday()) % 7)
        found = []
        while day <= last:
            found.append(day)
            day += timedelta(days=7)
        return found
    months = _months(first, last)
    if rule.frequency is Frequency.QUARTERLY:
        wanted = {q + (rule.month_of_quarter or 1) - 1 for q in QUARTER_STARTS}
        months = [(y, m) for y, m in months if m in wanted]
    days = [_day_in_month(rule, y, m) for y, m in months]
    return [d for d in days if first <= d <= last]


def _months(first: date, last: date) -> list[tuple[int, int]]:
    found = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        found.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def _day_in_month(rule: Rule, year: int, month: int) -> date:
    length = calendar.monthrange(year, month)[1]
    if rule.day_of_month is not None:
        return date(year, month, min(rule.day_of_month, length))
    assert rule.weekday is not None and rule.nth is not None
    if rule.nth == -1:
        last = date(year, month, length)
        return last - timedelta(days=(last.weekday() - rule.weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(rule.weekday - first.weekday()) % 7 + 7 * (rule.nth - 1))


def period_of(day: date, period: str) -> tuple[date, date]:
    """The calendar month, quarter or year holding ``day``: [its first day, the next's)."""
    months = PERIOD_MONTHS[period]
    first_month = (day.month - 1) // months * months + 1
    lo = date(day.year, first_month, 1)
    return lo, _add_months(lo, months)


def periods_within(first: date, end: date, period: str) -> list[tuple[date, date]]:
    """The whole periods lying inside [first, end), earliest first."""
    found = []
    lo, hi = period_of(first, period)
    if lo < first:
        lo, hi = hi, _add_months(hi, PERIOD_MONTHS[period])
    while hi <= end:
        found.append((lo, hi))
        lo, hi = hi, _add_months(hi, PERIOD_MONTHS[period])
    return found


def months_between(first: date, end: date) -> list[tuple[date, date]]:
    """Every calendar month overlapping [first, end), clipped to it (a trend's buckets)."""
    found = []
    lo = date(first.year, first.month, 1)
    while lo < end:
        hi = _add_months(lo, 1)
        found.append((max(lo, first), min(hi, end)))
        lo = hi
    return found


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
