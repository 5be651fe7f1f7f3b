"""A small platform for the tests: the codec's reader and the session state machine behind a
dict directory and a list store, in memory or on a real TCP port. Its store commits when told
to, so that a test can crash it between receiving locations and acknowledging them."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import secrets
from dataclasses import dataclass, field

from gnss.jt808.codec import Reader
from gnss.jt808.location import Location
from gnss.jt808.reasons import FrameCounts
from gnss.jt808.session import Ack, SessionState, Terminal, lookup_phone, step


@dataclass
class Platform:
    directory: dict[str, Terminal]
    hold_acks: bool = False  # locations wait for commit() before they are acknowledged
    stored: list[tuple[str, Location]] = field(default_factory=list)
    uncommitted: list[tuple[str, Location]] = field(default_factory=list)
    held: list[tuple[Ack, asyncio.StreamWriter | None]] = field(default_factory=list)
    counts: FrameCounts = field(default_factory=FrameCounts)
    closed: int = 0

    def session(self) -> PlatformSession:
        return PlatformSession(self)

    def commit(self) -> list[bytes]:
        """Stores what arrived and returns the acknowledgements now due (in memory)."""
        self.stored += self.uncommitted
        self.uncommitted = []
        frames = [ack.frame() for ack, writer in self.held if writer is None]
        for ack, writer in self.held:
            if writer is not None:
                writer.write(ack.frame())
        self.held = []
        return frames

    def crash(self) -> None:
        """Loses what was received but not committed, and the acknowledgements not sent."""
        self.uncommitted, self.held = [], []

    async def serve(self) -> asyncio.Server:
        return await asyncio.start_server(self._connection, "127.0.0.1", 0)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = self.session()
        try:
            while data := await reader.read(65536):
                writer.write(b"".join(session.receive(data, writer)))
                await writer.drain()
                if session.close:
                    self.closed += 1
                    break
        finally:
            writer.close()


@dataclass
class PlatformSession:
    platform: Platform
    state: SessionState = field(default_factory=SessionState)
    reader: Reader = field(default_factory=Reader)
    close: bool = False

    def receive(self, data: bytes, writer: asyncio.StreamWriter | None = None) -> list[bytes]:
        """The frames to send back now for ``data``."""
        platform, out = self.platform, list[bytes]()
        for item in self.reader.feed(data):
            platform.counts.add(item)
            phone = lookup_phone(item)
            terminal = platform.directory.get(phone) if phone else None
            self.state, outcome = step(self.state, item, terminal)
            out += outcome.replies
            if outcome.grant is not None and terminal is not None:
                code = secrets.token_urlsafe(16).encode()
                platform.directory[outcome.grant.phone] = dataclasses.replace(
                    terminal, code_sha256=hashlib.sha256(code).digest(), registered=True
                )
                out.append(outcome.grant.reply(code))
            device = self.state.device_id or "?"
            received = [(device, location) for location in outcome.locations]
            if outcome.ack is not None:
                if platform.hold_acks:
                    platform.uncommitted += received
                    platform.held.append((outcome.ack, writer))
                else:
                    platform.stored += received
                    out.append(outcome.ack.frame())
            self.close = self.close or outcome.close
        return out
