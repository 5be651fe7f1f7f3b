"""The audit log: who read whose positions, when, and what."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from store import audit
from tests.store.helpers import T0


def test_entries_are_filtered_and_newest_first(db: Session) -> None:
    audit.record_audit(
        db,
        actor="secretary",
        actor_user_id=7,
        action="read_track",
        subject_member_id=42,
        detail={"start": "2026-05-01T00:00:00Z", "format": "gpx"},
        at=T0,
    )
    written = audit.record_audit_many(
        db,
        actor="secretary",
        actor_user_id=7,
        action="read_positions",
        subject_member_ids=[42, 43, 44],
        detail={"org_id": 3},
        at=T0 + timedelta(minutes=1),
    )
    audit.record_audit(db, actor="system", action="purge_positions", at=T0 + timedelta(minutes=2))
    db.commit()
    assert written == 3
    about_42 = audit.list_audit(db, subject_member_id=42)
    assert [(e.action, e.at) for e in about_42] == [
        ("read_positions", T0 + timedelta(minutes=1)),
        ("read_track", T0),
    ]
    assert about_42[1].detail == {"start": "2026-05-01T00:00:00Z", "format": "gpx"}
    assert len(audit.list_audit(db, actor_user_id=7)) == 4
    assert [e.action for e in audit.list_audit(db, limit=1)] == ["purge_positions"]
    window = audit.list_audit(db, since=T0 + timedelta(seconds=30), until=T0 + timedelta(minutes=2))
    assert {e.subject_member_id for e in window} == {42, 43, 44}
    assert audit.list_audit(db, action="read_track", offset=1) == []
    assert audit.record_audit_many(db, actor="x", action="y", subject_member_ids=[]) == 0
