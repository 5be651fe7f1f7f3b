"""The device directory: which stored device, member and organisation a source's device id is.

Sources name devices by the id they send (``REG`` line, MQTT topic, HTTP path); positions are
stored with the device's and member's ids, and live events carry the member's organisation and
its materialised path (the API's live stream filters on it). The whole directory is read in one
query and replaced wholesale when it is refreshed, so the pipeline thread only ever swaps one
reference. It also answers TCP registrations from memory: a device's token hash is kept with it,
and only a miss (a new device, a rotated token, a wrong token) costs a database query.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.model import QualityThresholds
from gnss.sources import Verdict
from store.devices import find_device, verify_device_token
from store.models import Device, Member, Organisation


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """A device as the pipeline needs it; ``member_id`` None for a device nobody carries."""

    id: int
    uid: str
    member_id: int | None
    active: bool
    org_id: int | None = None
    org_path: str | None = None
    token_hash: bytes | None = None
    quality: QualityThresholds | None = None  # the device's own thresholds, if it has any
    protocol: str = "nmea"  # or "jt808": a terminal whose uid is its phone number
    utc_offset_min: int | None = None  # a terminal's clock zone (None: the protocol's)
    accuracy_m: float | None = None  # given to its positions sent without one (None: default)
    registration_open: bool = False  # a JT/T 808 terminal may register over the air


class Directory:
    """Devices by the id their sources use (an immutable snapshot)."""

    def __init__(self, entries: Mapping[str, DeviceEntry] | None = None) -> None:
        self.by_uid: dict[str, DeviceEntry] = dict(entries or {})
        # Member id → (organisation id, path), for live events.
        self.orgs: dict[int, tuple[int, str]] = {
            e.member_id: (e.org_id, e.org_path)
            for e in self.by_uid.values()
            if e.member_id is not None and e.org_id is not None and e.org_path is not None
        }
        self.quality_by_id = {e.id: e.quality for e in self.by_uid.values() if e.quality}

    def __len__(self) -> int:
        return len(self.by_uid)

    def active(self, uid: str) -> DeviceEntry | None:
        """The device if it is known and active: only those have their lines decoded."""
        entry = self.by_uid.get(uid)
        return entry if entry is not None and entry.active else None

    def check_token(self, uid: str, token: str) -> bool:
        """True when the cached hash says ``token`` is the active device's; False means "ask
        the database" (the device may be new or its token rotated since the last refresh)."""
        entry = self.active(uid)
        if entry is None or entry.token_hash is None:
            return False
        return hmac.compare_digest(hashlib.sha256(token.encode()).digest(), entry.token_hash)


class DeviceCodes:
    """The stored device and member of each device code of the decoder, as arrays (−1: not
    an active device of the directory; no member), so that a batch's fixes are attributed with
    one gather. Rebuilt when the directory is replaced, extended when new codes appear.

    >>> a, b = DeviceEntry(7, "a", 70, True), DeviceEntry(8, "b", None, True)
    >>> directory = Directory({"a": a, "b": b})
    >>> codes = DeviceCodes()
    >>> devices, members = codes.lookup(directory, ["b", "a", "zz"])
    >>> devices.tolist(), members.tolist()
    ([8, 7, -1], [-1, 70, -1])
    """

    def __init__(self) -> None:
        self._directory: Directory | None = None
        self.device = np.zeros(0, np.int64)
        self.member = np.zeros(0, np.int64)

    def lookup(
        self, directory: Directory, ids: Sequence[str]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Arrays by code for ``ids`` (every device id the decoder has, by code)."""
        known = len(self.device) if directory is self._directory else 0
        if known < len(ids):
            entries = [directory.active(uid) for uid in ids[known:]]
            device = [-1 if e is None else e.id for e in entries]
            member = [-1 if e is None or e.member_id is None else e.member_id for e in entries]
            self.device = np.concatenate([self.device[:known], np.array(device, np.int64)])
            self.member = np.concatenate([self.member[:known], np.array(member, np.int64)])
            self._directory = directory
        return self.device, self.member


def load_directory(session: Session) -> Directory:
    """Every device with its member's organisation, in one query."""
    stmt = (
        select(
            Device.id,
            Device.uid,
            Device.member_id,
            Device.active,
            Member.org_id,
            Organisation.path,
            Device.token_hash,
            Device.quality,
            Device.protocol,
            Device.utc_offset_min,
            Device.accuracy_m,
            Device.registration_open,
        )
        .outerjoin(Member, Member.id == Device.member_id)
        .outerjoin(Organisation, Organisation.id == Member.org_id)
    )
    return Directory(
        {
            row.uid: DeviceEntry(
                id=row.id,
                uid=row.uid,
                member_id=row.member_id,
                active=row.active,
                org_id=row.org_id,
                org_path=row.path,
                token_hash=row.token_hash,
                quality=_thresholds(row.quality),
                protocol=row.protocol,
                utc_offset_min=row.utc_offset_min,
                accuracy_m=row.accuracy_m,
                registration_open=row.registration_open,
            )
            for row in session.execute(stmt)
        }
    )


def _thresholds(overrides: dict[str, Any] | None) -> QualityThresholds | None:
    """The device's quality thresholds: the defaults with its overrides."""
    if not overrides:
        return None
    names = {f.name for f in dataclasses.fields(QualityThresholds)}
    return QualityThresholds(**{k: v for k, v in overrides.items() if k in names})


def verify_in_store(session: Session, uid: str, token: str) -> Verdict:
    """The database's answer to a registration the cached directory could not accept."""
    if verify_device_token(session, uid=uid, token=token) is not None:
        return Verdict.ACCEPTED
    if find_device(session, uid=uid) is None:
        return Verdict.UNKNOWN_DEVICE
    return Verdict.BAD_TOKEN
