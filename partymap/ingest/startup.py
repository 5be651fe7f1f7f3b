"""What the daemon reads from the store before its first batch, and when things change.

At start: the device directory, the site set with a presence tracker restored from the presence
table (each member's last epoch time from the positions, so silence is measured as if the
daemon had never stopped), and the committed offsets of the logs it replays. Later: a new
directory, and a new site index whenever the site set's version moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from geo.sites.membership import SiteIndex
from partymap.ingest.directory import Directory, load_directory
from partymap.ingest.presence_state import restore
from partymap.ingest.stages.presence import Sites
from store.models import Member, Position
from store.offsets import get_replay_offset
from store.presence import load_tracked_presence
from store.sites import load_site_set, site_set_version

T = TypeVar("T")


class StoreReader:
    """Reads the store off the event loop, each read in a session of its own."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    async def __call__(self, read: Callable[[Session], T]) -> T:
        def run() -> T:
            with self.sessions() as session:
                return read(session)

        return await asyncio.to_thread(run)


@dataclass(slots=True)
class Loaded:
    directory: Directory
    sites: Sites
    offsets: dict[str, int]


def load_state(session: Session, *, replay_keys: Sequence[str] = ()) -> Loaded:
    """Everything the pipeline starts from, read in one transaction."""
    directory = load_directory(session)
    version, index = load_site_index(session)
    saved = load_tracked_presence(session)
    last_seen = last_epoch_times(session, sorted({t.row.member_id for t in saved}))
    tracker, mirror, ended = restore(index, saved, last_seen)
    offsets = {key: get_replay_offset(session, source=key) or 0 for key in replay_keys}
    return Loaded(directory, Sites(version, tracker, mirror, carried=list(ended)), offsets)


def load_site_index(session: Session) -> tuple[int, SiteIndex]:
    """The live sites as an index, with the version of the site set it was built from."""
    site_set = load_site_set(session)
    return site_set.version, SiteIndex.build(site_set.sites)


def changed_site_index(session: Session, version: int) -> tuple[int, SiteIndex] | None:
    """A new index if the site set is no longer at ``version``."""
    if site_set_version(session) == version:
        return None
    return load_site_index(session)


def last_epoch_times(session: Session, member_ids: Sequence[int]) -> dict[int, float]:
    """Each member's newest stored epoch that proves their device alive (an epoch dated in
    the future proves nothing), as UTC seconds: one index lookup per member."""
    if not member_ids:
        return {}
    newest = (
        select(Position.fix_time)
        .where(
            Position.member_id == Member.id,
            or_(Position.rejections.is_(None), ~Position.rejections.contains("future")),
        )
        .order_by(Position.fix_time.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(select(Member.id, newest).where(and_(Member.id.in_(member_ids))))
    return {member: t.timestamp() for member, t in rows if t is not None}
