"""Attendance files: the period workbook of a subtree from the API and from ``partymap report
period`` (the same cells), one meeting's file from the API and ``partymap report attendance``
(the same bytes but for the zip's clock), corrections visible, reads audited."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geo.model import AttendanceOutcome, MeetingKind
from gnss.model import Fix, FixMode, FixQuality
from partymap.cli import app as cli
from store import attendance, meetings, visits
from store.models import AuditEntry, Organisation
from store.positions import NewPosition, PositionBatch, write_positions
from tests.api.conftest import client_for, make_app
from tests.api.world import World, build_world


def _cells(data: bytes) -> dict[str, list[list[Any]]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in book.worksheets}


def _recorded_with_correction(engine: Engine, world: World) -> int:
    t = world.targets["self"]
    start = datetime(2026, 6, 2, 7, tzinfo=UTC)
    with Session(engine) as db:
        db.execute(update(Organisation).values(created_at=datetime(2025, 1, 1, tzinfo=UTC)))
        m = meetings.create_meeting(
            db, org_id=t.org_id, site_id=t.site_id, kind=MeetingKind.PARTY_LECTURE,
            start=start, end=start + timedelta(hours=1), title="七一党课",
        ).id  # fmt: skip
        attendance.record_meeting(db, meeting_id=m, now=start + timedelta(hours=2))
        attendance.correct_attendance(
            db, meeting_id=m, member_id=t.member_id, status=AttendanceOutcome.LATE,
            reason="在分会场参加，迟到", actor="ba", now=start + timedelta(hours=3),
        )  # fmt: skip
        db.commit()
    return m


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return CliRunner()


def test_the_period_workbook_from_the_api_and_the_command_line(
    engine: Engine, tmp_path: Path, runner: CliRunner
) -> None:
    app = make_app(engine, tmp_path)
    world = build_world(engine, app.state.settings)
    lecture = _recorded_with_correction(engine, world)
    params = {"org_id": world.org_ids["G1"], "start": "2026-04-01", "end": "2026-07-01"}
    with client_for(app) as client:
        got = client.get("/api/v1/reports/period", params=params,
                         headers=world.headers("committee_admin"))  # fmt: skip
        english = client.get("/api/v1/reports/period", params={**params, "lang": "en"},
                             headers=world.headers("committee_admin"))  # fmt: skip
        refused = client.get("/api/v1/reports/period", params=params,
                             headers=world.headers("branch_admin"))  # fmt: skip
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheets = _cells(got.content)
    names = list(sheets)
    assert names[:2] == ["汇总", "会议一览"]
    summary = sheets["汇总"]
    assert summary[0][:2] == ["三会一课统计", "党总支 T-self"]
    assert summary[1][1] == "2026-04-01 – 2026-06-30"
    header = summary[5]
    assert header[:2] == ["组织", "组织类型"] and "出席率 %" in header
    rows = {r[0]: r for r in summary[6:]}
    assert set(rows) == {"党总支 T-self", "一支部 T-self", "二支部 T-sibling", "合计"}
    b1 = dict(zip(header, rows["一支部 T-self"], strict=True))
    # B1 held the world's two meetings of 1 May (not recorded) and the lecture (recorded):
    # its two members in the room, one of them corrected to late.
    assert b1["组织类型"] == "党支部" and b1["已开展会议"] == 3
    assert b1["党课 已开展/应开展"] == "1/1" and b1["应到"] == 2 and b1["出席率 %"] == 100.0
    index = sheets["会议一览"]
    assert [r[5] for r in index[1:]] == ["支部大会 T-self", "支部大会 T-self", "支部大会 T-sibling",
                                          "七一党课"]  # fmt: skip
    lecture_sheet = sheets[names[2]]
    assert names[2] == f"06-02 党课 #{lecture}" and len(names) == 3
    assert lecture_sheet[0][:2] == ["会议名称", "七一党课"]
    line = next(r for r in lecture_sheet if r[1] == "党员 T-self")
    assert line[2:5] == ["迟到", "按时出席", "人工补签"]
    assert line[8].startswith("按时出席 → 迟到，在分会场参加，迟到（ba，2026-06-02 18:00:00")
    assert list(_cells(english.content))[:2] == ["Summary", "Meetings"]
    assert refused.status_code == 404  # G1 is above the branch admin's scope

    url = engine.url.render_as_string(hide_password=False)
    out = tmp_path / "period.xlsx"
    result = runner.invoke(cli, ["report", "period", "--url", url, "--org",
                                 str(world.org_ids["G1"]), "--from", "2026-04-01", "--to",
                                 "2026-07-01", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    from_cli = _cells(out.read_bytes())
    for name in names:
        if name == "汇总":  # the generated time differs
            assert from_cli[name][:3] + from_cli[name][4:] == sheets[name][:3] + sheets[name][4:]
        else:
            assert from_cli[name] == sheets[name], name
    bad = runner.invoke(cli, ["report", "period", "--url", url, "--from", "April",
                              "--out", str(out)])  # fmt: skip
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    with Session(engine) as db:
        audited = db.scalar(
            select(func.count()).where(
                AuditEntry.action == "read_attendance", AuditEntry.actor == "system"
            )
        )
    assert audited == 2  # the CLI's read: the lecture's two members


def test_one_meetings_file_is_the_same_from_the_api_and_the_command_line(
    engine: Engine, tmp_path: Path, runner: CliRunner
) -> None:
    app = make_app(engine, tmp_path)
    world = build_world(engine, app.state.settings)
    lecture = _recorded_with_correction(engine, world)
    url = engine.url.render_as_string(hide_password=False)
    with client_for(app) as client:
        api_csv = client.get(
            f"/api/v1/meetings/{lecture}/attendance", params={"format": "csv", "lang": "en"},
            headers=world.headers("branch_admin"),
        ).content  # fmt: skip
        api_xlsx = client.get(
            f"/api/v1/meetings/{lecture}/attendance", params={"format": "xlsx"},
            headers=world.headers("branch_admin"),
        ).content  # fmt: skip
    csv_out, xlsx_out = tmp_path / "a.csv", tmp_path / "a.xlsx"
    for args in (["--format", "csv", "--lang", "en", "--out", str(csv_out)],
                 ["--format", "xlsx", "--out", str(xlsx_out)]):  # fmt: skip
        result = runner.invoke(cli, ["report", "attendance", "--url", url, "--meeting",
                                     str(lecture), *args])  # fmt: skip
        assert result.exit_code == 0, result.output
    assert csv_out.read_bytes() == api_csv
    assert _cells(xlsx_out.read_bytes()) == _cells(api_xlsx)
    assert "Manual correction" in api_csv.decode()


def test_a_terminals_check_in_is_exported_as_a_beidou_terminal_not_as_beidou_verified(
    engine: Engine, tmp_path: Path
) -> None:
    app = make_app(engine, tmp_path)
    world = build_world(engine, app.state.settings)
    peer = world.targets["peer"]
    with Session(engine) as db:
        # The peer's check-in (8 BeiDou satellites) was made by a JT/T 808 terminal's fixes.
        (row,) = visits.list_visits(db, member_id=peer.member_id, limit=None)
        checkin = visits.as_checkin(row)
        assert checkin is not None and checkin.beidou_verified
        fix = Fix(time=checkin.time, lat=30.5, lon=114.3, mode=FixMode.THREE_D,
                  quality=FixQuality.GPS, sats_used=8, accuracy_m=10.0)  # fmt: skip
        write_positions(db, batch=PositionBatch.from_positions(
            [NewPosition(peer.device_id, peer.member_id, fix, checkin.time, "jt808")]
        ))  # fmt: skip
        visits.record_checkin(db, checkin=checkin)
        db.commit()
    lecture = _recorded_with_correction(engine, world)
    with client_for(app) as client:
        got = client.get(
            f"/api/v1/meetings/{lecture}/attendance", params={"format": "csv", "lang": "en"},
            headers=world.headers("branch_admin"),
        )  # fmt: skip
    assert got.status_code == 200, got.text
    (line,) = [x for x in got.text.splitlines() if "T-peer" in x]
    assert "BeiDou terminal" in line and "BeiDou-verified" not in line
