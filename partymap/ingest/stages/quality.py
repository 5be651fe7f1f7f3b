"""Quality: every rule over the batch's fixes, with each device's last accepted fix."""

from __future__ import annotations

import numpy as np

from geo.model import QualityThresholds
from geo.quality.batch import DeviceTable, Mask, check_quality_batch, position_hashes
from geo.quality.replay_guard import ReplayGuard
from gnss.fixtable import FixTable
from partymap.ingest.directory import Directory


class QualityCheck:
    """The devices' table (thresholds and last accepted fix) and the replay guard (position
    sentences already received from another device)."""

    def __init__(self, guard: ReplayGuard | None = None) -> None:
        self.guard = guard if guard is not None else ReplayGuard()
        self._devices = DeviceTable.empty()

    def __call__(self, fixes: FixTable, directory: Directory, now_s: float) -> Mask:
        """Each fix's failed rules, by name bits (0: accepted); ``fixes.device``: the stored
        device ids."""
        received = np.where(np.isnan(fixes.received_s), now_s, fixes.received_s)
        replayed = self.guard.check(position_hashes(fixes), fixes.device, received)
        # Devices seen for the first time, with their own thresholds or the defaults.
        groups: dict[QualityThresholds | None, list[int]] = {}
        for code in np.setdiff1d(fixes.device, self._devices.code).tolist():
            groups.setdefault(directory.quality_by_id.get(code), []).append(code)
        for thresholds, codes in groups.items():
            self._devices = self._devices.with_devices(np.array(codes, dtype=np.int64), thresholds)
        reasons, self._devices = check_quality_batch(fixes, self._devices, now_s, replayed)
        return reasons
