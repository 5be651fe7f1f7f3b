"""``partymap db rotate-qr-key``: a new key voids the meeting codes shown before it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api import qrcode
from partymap.cli import app
from store.db import make_engine
from store.qr import current_key


def test_rotating_the_key_voids_earlier_codes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    runner = CliRunner()
    refused = runner.invoke(app, ["db", "rotate-qr-key", "--url", url])
    assert refused.exit_code == 2  # no database there: refused, not created
    assert runner.invoke(app, ["db", "upgrade", "--url", url]).exit_code == 0
    engine = make_engine(url)
    with Session(engine) as db:
        before = current_key(db)
    code = qrcode.code_for(before, 7, 100)
    done = runner.invoke(app, ["db", "rotate-qr-key", "--url", url])
    assert done.exit_code == 0, done.output
    with Session(engine) as db:
        after = current_key(db)
    engine.dispose()
    assert after != before
    assert qrcode.verdict(after, 7, 100, code, now_s=100 * qrcode.STEP_S) == "wrong_code"
