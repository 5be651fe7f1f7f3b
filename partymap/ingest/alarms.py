"""Device alarms on their way out: a JT/T 808 terminal's SOS, once its location is stored,
becomes an alarm row (:mod:`store.alarms`, listed by the API) and an ``alarm`` event on the
live feed, which the map and the dashboard show at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from gnss.jt808.location import Location
from partymap.ingest.directory import DeviceEntry, Directory
from store.alarms import SOS, get_alarm, raise_alarm
from store.live import LiveFeed

log = logging.getLogger(__name__)


class Alarms:
    """Raises alarms off the event loop and publishes the new ones."""

    def __init__(
        self, sessions: sessionmaker[Session], live: LiveFeed, directory: Callable[[], Directory]
    ) -> None:
        self.sessions = sessions
        self.live = live
        self.directory = directory
        self._tasks: set[asyncio.Task[None]] = set()

    def raise_sos(self, entry: DeviceEntry, location: Location) -> None:
        """On the loop: store and publish the SOS of a stored location (in the background)."""
        task = asyncio.create_task(self._raise(entry, location))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Return once every alarm raised so far is stored and published."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _raise(self, entry: DeviceEntry, location: Location) -> None:
        assert location.time is not None
        member = entry.member_id
        org = self.directory().orgs.get(member) if member is not None else None
        positioned = location.positioned

        def store() -> dict[str, object] | None:
            with self.sessions() as session:
                new = raise_alarm(
                    session,
                    kind=SOS,
                    device_id=entry.id,
                    member_id=member,
                    org_id=None if org is None else org[0],
                    fix_time=location.time,  # type: ignore[arg-type]
                    lat=location.lat if positioned else None,
                    lon=location.lon if positioned else None,
                )
                session.commit()
                alarm = None if new is None else get_alarm(session, alarm_id=new)
                return None if alarm is None else alarm.event()

        try:
            event = await asyncio.to_thread(store)
        except Exception as exc:  # the store away: the alarm is in the positions all the same
            log.error("SOS of device %s not stored (%s: %s)", entry.uid, type(exc).__name__, exc)
            return
        if event is not None:
            log.warning("SOS from device %s at %s", entry.uid, event["time"])
            self.live.publish_many((event,))
