"""Attendance files: one meeting's sheet as CSV or XLSX, and the period report workbook.

The API and ``partymap report`` both call these, so the same request gives the same file.
Headers are Chinese (``lang="en"``: English); statuses, kinds and evidence use the one
vocabulary of :mod:`maps.labels`. A meeting's file opens with the meeting (title, kind,
organisation, site, date, time and zone), then one line per member with the status that
counts, the automatic decision beside it and any correction (补签), then the summary
(应到 / 实到 / 请假 / 缺席 / 迟到 / 早退 / 出席率 %). Times are in the meeting's zone.

>>> words("en")["expected"], words("zh-CN")["expected"]
('Expected', '应到')
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from api.reports import AttendanceLine, MeetingSheet
from api.xlsx import Book
from maps.labels import labels
from store.meetings import Summary

Language = Literal["zh-CN", "en"]
Row = list[Any]

WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "meeting": "会议名称",
        "kind": "会议类型",
        "organisation": "组织",
        "site": "地点",
        "no_site": "无（人工记录）",
        "date": "日期",
        "time": "时间",
        "tz": "时区",
        "host": "主持人",
        "recorder": "记录人",
        "topic": "议题",
        "state": "状态",
        "code": "党员编号",
        "name": "姓名",
        "status": "出勤情况",
        "outcome": "自动判定",
        "evidence": "依据",
        "checkin": "签到时间",
        "left": "离开时间",
        "leave": "请假事由",
        "correction": "补签记录",
        "corrected": "{old} → {new}，{reason}（{by}，{at}）",
        "expected": "应到",
        "attended": "实到",
        "excused": "请假",
        "absent": "缺席",
        "late": "迟到",
        "left_early": "早退",
        "rate": "出席率 %",
        "summary": "统计",
        "held": "已开展",
        "required": "应开展",
        "meetings": "已开展会议",
        "org_kind": "组织类型",
        "compliance": "完成率 %",
        "generated": "生成时间",
        "total": "合计",
    },
    "en": {
        "meeting": "Meeting",
        "kind": "Kind",
        "organisation": "Organisation",
        "site": "Site",
        "no_site": "none (recorded by hand)",
        "date": "Date",
        "time": "Time",
        "tz": "Time zone",
        "host": "Host",
        "recorder": "Recorder",
        "topic": "Topic",
        "state": "Status",
        "code": "Code",
        "name": "Name",
        "status": "Attendance",
        "outcome": "Automatic decision",
        "evidence": "Evidence",
        "checkin": "Checked in",
        "left": "Left",
        "leave": "Leave reason",
        "correction": "Correction",
        "corrected": "{old} → {new}: {reason} ({by}, {at})",
        "expected": "Expected",
        "attended": "Attended",
        "excused": "Excused",
        "absent": "Absent",
        "late": "Late",
        "left_early": "Left early",
        "rate": "Attendance rate %",
        "summary": "Summary",
        "held": "held",
        "required": "required",
        "meetings": "Meetings held",
        "org_kind": "Organisation kind",
        "compliance": "Held as required %",
        "generated": "Generated",
        "total": "Total",
    },
}


def words(lang: Language | str) -> dict[str, str]:
    return WORDS["en" if lang == "en" else "zh-CN"]


def percent(rate: float | None) -> float | None:
    """A 0–1 share as a percentage with one decimal (None stays None)."""
    return None if rate is None else round(rate * 100, 1)


def meeting_title(ms: MeetingSheet, lang: Language | str) -> str:
    m, label = ms.meeting, labels("en" if lang == "en" else "zh-CN")
    return m.title or f"{label[m.kind.value]} {m.start_local[:10]}"


def meeting_preamble(ms: MeetingSheet, lang: Language | str) -> list[Row]:
    """Lines naming the meeting: title, kind, organisation, site, date, time and zone."""
    w, label = words(lang), labels("en" if lang == "en" else "zh-CN")
    m = ms.meeting
    return [
        [w["meeting"], meeting_title(ms, lang)],
        [w["kind"], label[m.kind.value]],
        [w["organisation"], m.org_name],
        [w["site"], m.site_name or w["no_site"]],
        [w["date"], m.start_local[:10]],
        [w["time"], f"{m.start_local[11:16]}–{m.end_local[11:16]}"],
        [w["tz"], m.tz],
        [w["host"], m.host_name or ""],
        [w["recorder"], m.recorder_name or ""],
        [w["state"], label[m.status.value]],
    ]


def attendance_header(ms: MeetingSheet, lang: Language | str) -> Row:
    w = words(lang)
    tz = ms.meeting.tz
    return [
        w["code"], w["name"], w["status"], w["outcome"], w["evidence"],
        f"{w['checkin']} ({tz})", f"{w['left']} ({tz})", w["leave"], w["correction"],
    ]  # fmt: skip


def attendance_rows(ms: MeetingSheet, lang: Language | str) -> list[Row]:
    return [_line(line, ms.meeting.tz, lang) for line in ms.lines]


def summary_rows(summary: Summary, lang: Language | str) -> list[Row]:
    w = words(lang)
    return [
        [w["expected"], summary.expected],
        [w["attended"], summary.attended],
        [w["excused"], summary.excused],
        [w["absent"], summary.absent],
        [w["late"], summary.late],
        [w["left_early"], summary.left_early],
        [w["rate"], percent(summary.rate)],
    ]


def meeting_blocks(ms: MeetingSheet, lang: Language | str) -> list[Row]:
    """The whole sheet as rows: the meeting, a blank line, the table, a blank line, the summary."""
    return [
        *meeting_preamble(ms, lang),
        [],
        attendance_header(ms, lang),
        *attendance_rows(ms, lang),
        [],
        [words(lang)["summary"]],
        *summary_rows(ms.sheet.summary(), lang),
    ]


def meeting_csv(ms: MeetingSheet, lang: Language | str) -> str:
    return csv_rows(meeting_blocks(ms, lang))


def meeting_xlsx(ms: MeetingSheet, lang: Language | str) -> bytes:
    book = Book()
    add_meeting_sheet(book, ms, lang, title=meeting_title(ms, lang))
    return book.close()


def add_meeting_sheet(book: Book, ms: MeetingSheet, lang: Language | str, *, title: str) -> str:
    """The meeting's sheet in ``book``: its lines in bold, the table's header frozen."""
    preamble = len(meeting_preamble(ms, lang))
    header_row = preamble + 2
    return book.add(
        title,
        meeting_blocks(ms, lang),
        bold=(*range(1, preamble + 1), header_row),
        freeze_below=header_row + 1,
    )


def csv_rows(rows: Iterable[Sequence[Any]]) -> str:
    """CSV with a byte-order mark, so spreadsheet programs read Chinese text as UTF-8."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerows([cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def cell(value: Any) -> Any:
    """A value safe in a spreadsheet: text that starts like a formula is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _line(line: AttendanceLine, tz: str, lang: Language | str) -> Row:
    label, w = labels("en" if lang == "en" else "zh-CN"), words(lang)
    e = line.entry
    zone = ZoneInfo(tz)
    correction = ""
    if e.correction is not None:
        c = e.correction
        correction = w["corrected"].format(
            old=label[f"outcome_{c.old_status.value}"],
            new=label[f"outcome_{c.new_status.value}"],
            reason=c.reason,
            by=c.actor,
            at=_local(c.at, zone),
        )
    return [
        line.code or "",
        line.name,
        label[f"outcome_{e.status.value}"],
        label[f"outcome_{e.outcome.value}"],
        label[f"evidence_{e.evidence.value}"] if e.evidence else "",
        _local(e.first_checkin, zone),
        _local(e.last_leave, zone),
        e.leave.reason if e.leave else "",
        correction,
    ]


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""
