"""The period report workbook of a subtree (考核材料): what ``GET /api/v1/reports/period`` and
``partymap report period`` both write.

Sheets: 汇总 (Summary), one row per organisation with its own meetings held against required
per kind and its attendance in numbers, the subtree's total last; 会议一览 (Meetings), every
meeting of the period with its state and summary; then one sheet per recorded meeting, as the
meeting's own file has it (:mod:`api.exports`). Everything is read with a few set-based
queries (the meetings' stored lines in chunks), whatever the number of meetings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from api.exports import Language, add_meeting_sheet, percent, words
from api.reports import AttendanceLine, MeetingSheet, describe_meetings, member_names, names
from api.statistics import date_range, requirements
from api.xlsx import Book
from geo.meetings.recurrence import zone
from geo.model import MeetingKind
from maps.labels import labels
from partymap.settings import Settings
from store.attendance import Sheet, stored_entries
from store.meetings import find_meetings
from store.models import Organisation
from store.stats import OrgFigures, local_midnight, statistics


@dataclass(frozen=True, slots=True)
class PeriodWorkbook:
    data: bytes
    member_ids: list[int]  # whose attendance it shows (to audit)
    meetings: int
    sheets: int
    start: date
    end: date  # exclusive


def period_workbook(
    session: Session,
    settings: Settings,
    *,
    root_id: int | None,
    start: date | None,
    end: date | None,
    lang: Language | str,
    now: datetime,
) -> PeriodWorkbook:
    tz = settings.meetings_tz
    first, last = date_range(settings, start, end, now)
    needs = requirements(settings)
    stats = statistics(
        session, root_id=root_id, start=first, end=last, tz=tz, now=now, requirements=needs
    )
    infos = find_meetings(
        session,
        within_org_id=root_id,
        start=local_midnight(first, tz),
        end=local_midnight(last, tz),
        limit=None,
    )
    described = describe_meetings(session, infos, now=now)
    recorded = [i for i in infos if i.recorded_at is not None]
    lines = stored_entries(session, meeting_ids=[i.meeting.id for i in recorded])
    people = member_names(session, {e.member_id for found in lines.values() for e in found})
    w, label = words(lang), labels("en" if lang == "en" else "zh-CN")
    book = Book()
    root_name = names(session, Organisation, {root_id}).get(root_id, "") if root_id else ""
    book.add(
        "Summary" if lang == "en" else "汇总",
        _summary(stats.orgs, stats.total, [r.kind for r in needs], root_name, first, last, tz,
                 now, lang),
        bold=(1, 6),
        freeze_below=7,
    )  # fmt: skip
    index = [[w["date"], w["time"], w["tz"], w["organisation"], w["kind"], w["meeting"],
              w["site"], w["state"], w["expected"], w["attended"], w["excused"], w["absent"],
              w["late"], w["left_early"], w["rate"]]]  # fmt: skip
    for m, info in zip(described, infos, strict=True):
        s = info.summary
        index.append([
            m.start_local[:10], f"{m.start_local[11:16]}–{m.end_local[11:16]}", m.tz, m.org_name,
            label[m.kind.value], m.title, m.site_name or w["no_site"], label[m.status.value],
            *((s.expected, s.attended, s.excused, s.absent, s.late, s.left_early,
               percent(s.rate)) if s else ()),
        ])  # fmt: skip
    book.add("Meetings" if lang == "en" else "会议一览", index, bold=(1,), freeze_below=2)
    shown: set[int] = set()
    by_id = {m.id: m for m in described}
    for info in recorded:
        entries = lines[info.meeting.id]
        shown.update(e.member_id for e in entries)
        sheet = MeetingSheet(
            Sheet(info, tuple(entries)),
            by_id[info.meeting.id],
            tuple(
                AttendanceLine(e.member_id, *people.get(e.member_id, (None, "")), e)
                for e in entries
            ),
        )
        local = info.meeting.start.astimezone(zone(info.tz))
        title = f"{local:%m-%d} {label[info.meeting.kind.value]} #{info.meeting.id}"
        add_meeting_sheet(book, sheet, lang, title=title)
    return PeriodWorkbook(
        data=book.close(),
        member_ids=sorted(shown),
        meetings=len(infos),
        sheets=2 + len(recorded),
        start=first,
        end=last,
    )


def _summary(  # noqa: PLR0917 - one call site, the rows of one sheet
    orgs: list[OrgFigures],
    total: OrgFigures,
    kinds: list[MeetingKind],
    root_name: str,
    first: date,
    last: date,
    tz: str,
    now: datetime,
    lang: Language | str,
) -> list[list[object]]:
    w, label = words(lang), labels("en" if lang == "en" else "zh-CN")
    title = "三会一课统计" if lang != "en" else "Three meetings and one lecture"
    rows: list[list[object]] = [
        [title, root_name],
        [w["date"], f"{first.isoformat()} – {(last - timedelta(days=1)).isoformat()}"],
        [w["tz"], tz],
        [w["generated"], now.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")],
        [],
        [
            w["organisation"], w["org_kind"],
            *(f"{label[k.value]} {w['held']}/{w['required']}" for k in kinds),
            w["meetings"], w["required"], w["compliance"], w["expected"], w["attended"],
            w["excused"], w["absent"], w["late"], w["left_early"], w["rate"],
        ],
    ]  # fmt: skip
    for f in [*orgs, total]:
        a = f.attendance
        rows.append([
            f.name, label[f.kind.value],
            *(_held(f, k) for k in kinds),
            f.held, f.required, percent(f.compliance), a.expected, a.attended, a.excused,
            a.absent, a.late, a.left_early, percent(a.rate),
        ])  # fmt: skip
    rows[-1][:2] = [w["total"], ""]
    return rows


def _held(f: OrgFigures, kind: MeetingKind) -> str:
    k = f.by_kind.get(kind)
    if k is None:
        return ""
    return f"{k.held}/{k.required}" if k.required else str(k.held)
