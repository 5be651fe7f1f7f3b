"""``partymap map --out``: one self-contained file, audited as an export."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from maps.export import export_data, export_html
from maps.snapshot import Scope
from partymap.cli import app
from partymap.seed import SeededDemo, seed_demo
from store.db import make_engine
from store.migrations import upgrade
from store.models import AuditEntry
from store.orgs import get_organisation
from tests.maps.conftest import NOW
from tests.maps.helpers import at_site, place

STALE_AFTER = timedelta(minutes=10)


@pytest.fixture
def scene(db: Session, demo: SeededDemo) -> SeededDemo:
    place(db, demo, "张伟", "room", at=NOW - timedelta(seconds=20), track_s=30)
    at_site(db, demo, "张伟", "room", "present", since=NOW - timedelta(minutes=5))
    place(db, demo, "曹阳", "nairobi", at=NOW - timedelta(seconds=20))
    return demo


def embedded(html: str) -> dict:
    config = re.search(r'<script type="application/json" id="partymap-config">(.*?)</script>', html)
    assert config is not None
    return json.loads(config.group(1))


def test_the_export_holds_everything_and_needs_nothing(db: Session, scene: SeededDemo) -> None:
    html = export_html(
        db, scope=Scope(), actor="cli:test", now=NOW, stale_after=STALE_AFTER, language="en"
    )
    # Leaflet and the dashboard are inline: no script or style is fetched from anywhere.
    assert not re.search(r'<script[^>]+src=|<link[^>]+href="http', html)
    data = embedded(html)["data"]
    zhang = scene.members["张伟"]
    assert data["members"][str(zhang)]["track"]["fixes"] == 31
    assert data["orgs"][str(scene.orgs["hq1"])]["members_total"] == 10
    assert data["tree"]["root"]["nodes"][0]["name"] == "华建一公司党委"
    assert set(data["overview"]) == {str(z) for z in range(2, 18)}
    assert len(data["search"]["members"]) == 38
    assert embedded(html)["land"]["type"] == "FeatureCollection"
    # Every member whose positions or track it holds is in the audit log as exported: all of
    # them, as each member's panel (with their track, empty or not) is in the file.
    exported = select(AuditEntry.subject_member_id).where(
        AuditEntry.action == "export_map", AuditEntry.actor == "cli:test"
    )
    assert set(db.scalars(exported)) == set(scene.members.values())


def test_a_subtree_export_and_its_limit(db: Session, scene: SeededDemo) -> None:
    org = get_organisation(db, org_id=scene.orgs["kenya"])
    scope = Scope(org_id=org.id, org_path=org.path)
    data, revealed = export_data(db, scope=scope, now=NOW, stale_after=STALE_AFTER)
    assert [m["name"] for m in data["search"]["members"]] == ["曹阳", "袁野", "邓辉", "许波"]
    assert revealed == {scene.members[n] for n in ("曹阳", "袁野", "邓辉", "许波")}
    assert str(scene.members["张伟"]) not in data["members"]
    with pytest.raises(ValueError, match="more than one export holds"):
        export_data(db, scope=Scope(), now=NOW, stale_after=STALE_AFTER, max_members=10)


def test_the_command_writes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'partymap.sqlite'}")
    upgrade(engine)
    with Session(engine) as session:
        seed_demo(session, live_start=NOW)
        session.commit()
    engine.dispose()
    monkeypatch.setenv("PARTYMAP_DATA_DIR", str(tmp_path))
    out = tmp_path / "map.html"
    result = CliRunner().invoke(app, ["map", "--out", str(out), "--lang", "en", "--tiles", "none"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    config = embedded(out.read_text(encoding="utf-8"))
    assert config["language"] == "en" and len(config["data"]["search"]["members"]) == 38
    missing = CliRunner().invoke(app, ["map", "--out", str(out), "--org", "999"])
    assert missing.exit_code != 0 and "999" in missing.output
