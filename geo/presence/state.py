"""Presence per (member, site): a state value and a pure step function (DESIGN §4, STYLE §8).

::

    OUTSIDE ──inside──▶ ARRIVING ──dwell since the first inside fix──▶ PRESENT  (CheckIn)
       ▲                   │ outside evidence, or silence > max_gap                │ outside
       └───────────────────┘ (visit ended, no check-in)                            ▼
       ◀──────────── exit_after of outside evidence, or silence > max_gap ──── LEAVING
                     (visit ended at the first outside fix)          inside ──▶ PRESENT

Evidence for one pair from one epoch (:class:`Ev`): INSIDE / BETWEEN (from membership),
OUTSIDE (an accepted fix that does not come near the site), or ALIVE (an epoch without usable
position: indoors the receiver talks on without a fix). BETWEEN and ALIVE change nothing, except
that they let the dwell of an ARRIVING pair complete: no outside evidence came in between.
*Silence* is the time since the member's previous epoch of any kind (``previous_s``). PRESENT holds
through silence (a tunnel, a dead battery); the visit ends at the first outside fix after it.

The check-in is timed at the first inside fix and carries the summary of the accepted inside
fixes that made it (:class:`~geo.model.Evidence`: the first and last fix time, their count,
the first fix's quality, the worst HDOP and accuracy, and per constellation the fewest
satellites any of them used — "BeiDou-verified" means every one used ≥ 4 BeiDou satellites).

>>> from geo.model import SiteParams
>>> fix = FixSummary(quality=1, hdop=0.9, accuracy_m=3.0, sats=(4, 0, 0, 6, 0, 0, 0))
>>> s, events = step(PairState(), Observation(0.0, -5.0, Ev.INSIDE, fix), SiteParams(),
...                  member_id=1, site_id=9)
>>> s.state.value, events
('arriving', ())
>>> s, events = step(s, Observation(120.0, 60.0, Ev.ALIVE), SiteParams(), member_id=1, site_id=9)
>>> s.state.value, [type(e).__name__ for e in events], events[0].beidou_verified
('present', ['CheckIn'], True)
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType

from geo.model import CheckIn, Evidence, PresenceState, SiteParams, VisitEnded
from geo.quality.rules import RULE_NAMES
from gnss.fixtable import SYSTEMS
from gnss.model import FixQuality

OUTSIDE, ARRIVING, PRESENT, LEAVING = (
    PresenceState.OUTSIDE,
    PresenceState.ARRIVING,
    PresenceState.PRESENT,
    PresenceState.LEAVING,
)
# Only accepted fixes reach presence: every rule (and the site's own thresholds) passed.
PASSED_RULES = MappingProxyType({name: True for name in (*RULE_NAMES, "site_thresholds")})

PresenceEvent = CheckIn | VisitEnded


class Ev(enum.IntEnum):
    """What one epoch says about one (member, site) pair."""

    ALIVE = 0
    OUTSIDE = 1
    BETWEEN = 2
    INSIDE = 3


@dataclass(frozen=True, slots=True)
class FixSummary:
    """What a check-in keeps of one accepted inside fix."""

    quality: int
    hdop: float
    accuracy_m: float
    sats: tuple[int, ...]  # satellites used per constellation, in gnss.fixtable.SYSTEMS order


@dataclass(frozen=True, slots=True)
class Observation:
    time_s: float  # the epoch's time, UTC seconds
    previous_s: float  # the member's previous epoch (−inf: none before)
    evidence: Ev
    fix: FixSummary | None = None  # set for INSIDE evidence


def _worse(a: float, b: float) -> float:
    """The larger, ignoring NaN (as numpy's fmax)."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return max(a, b)


@dataclass(frozen=True, slots=True)
class PairState:
    """One (member, site) pair; the default value is OUTSIDE. Times in UTC seconds."""

    state: PresenceState = OUTSIDE
    since_s: float = math.nan  # first inside fix of the visit
    leaving_s: float = math.nan  # first outside fix while LEAVING
    count: int = 0  # accepted inside fixes before the check-in
    last_inside_s: float = math.nan
    quality: int = 0  # of the first inside fix
    hdop: float = math.nan  # worst of the inside fixes
    accuracy_m: float = math.nan  # worst of the inside fixes
    sats: tuple[int, ...] = ()  # fewest used per constellation over the inside fixes

    def with_inside_fix(self, t: float, fix: FixSummary) -> PairState:
        if self.count == 0:
            return replace(
                self,
                count=1,
                last_inside_s=t,
                quality=fix.quality,
                hdop=fix.hdop,
                accuracy_m=fix.accuracy_m,
                sats=fix.sats,
            )
        return replace(
            self,
            count=self.count + 1,
            last_inside_s=t,
            hdop=_worse(self.hdop, fix.hdop),
            accuracy_m=_worse(self.accuracy_m, fix.accuracy_m),
            sats=tuple(min(a, b) for a, b in zip(self.sats, fix.sats, strict=True)),
        )

    def evidence(self) -> Evidence:
        return Evidence(
            fix_times=(utc(self.since_s), utc(self.last_inside_s)),
            quality=FixQuality(self.quality),
            hdop=None if math.isnan(self.hdop) else self.hdop,
            accuracy_m=None if math.isnan(self.accuracy_m) else self.accuracy_m,
            sats_used_by_system=MappingProxyType(
                {c: n for c, n in zip(SYSTEMS, self.sats, strict=True) if n > 0}
            ),
            rule_results=PASSED_RULES,
            fix_count=self.count,
        )


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def step(
    s: PairState, obs: Observation, p: SiteParams, *, member_id: int, site_id: int
) -> tuple[PairState, tuple[PresenceEvent, ...]]:
    """One epoch's evidence applied to one pair: the new state and the events it caused."""
    events: list[PresenceEvent] = []
    t, ev = obs.time_s, obs.evidence

    def ended(end: float, checked_in: bool) -> PairState:
        events.append(VisitEnded(member_id, site_id, utc(s.since_s), utc(end), checked_in))
        return PairState()

    # Silence first: it ends a visit that was still being decided.
    if t - obs.previous_s > p.max_gap_s:
        if s.state is ARRIVING:
            s = ended(obs.previous_s, False)
        elif s.state is LEAVING:
            s = ended(s.leaving_s, True)
    # Evidence.
    if s.state is OUTSIDE and ev is Ev.INSIDE:
        assert obs.fix is not None
        s = PairState(ARRIVING, since_s=t).with_inside_fix(t, obs.fix)
    elif s.state is ARRIVING and ev is Ev.OUTSIDE:
        s = ended(t, False)
    elif s.state is ARRIVING and ev is Ev.INSIDE:
        assert obs.fix is not None
        s = s.with_inside_fix(t, obs.fix)
    elif s.state is PRESENT and ev is Ev.OUTSIDE:
        s = replace(s, state=LEAVING, leaving_s=t)
    elif s.state is LEAVING and ev is Ev.INSIDE:
        s = replace(s, state=PRESENT, leaving_s=math.nan)
    # Timers (a zero dwell or exit_after completes in the same epoch).
    if s.state is ARRIVING and t - s.since_s >= p.dwell_s:
        s = replace(s, state=PRESENT)
        events.append(CheckIn(member_id, site_id, utc(s.since_s), s.evidence()))
    if s.state is LEAVING and ev is Ev.OUTSIDE and t - s.leaving_s >= p.exit_after_s:
        s = ended(s.leaving_s, True)
    return s, tuple(events)


def expire(
    s: PairState,
    silent_since_s: float,
    now_s: float,
    p: SiteParams,
    *,
    member_id: int,
    site_id: int,
    quiet_s: float | None = None,
) -> tuple[PairState, tuple[PresenceEvent, ...]]:
    """Silence until ``now_s`` since the epoch at ``silent_since_s``: :func:`step`'s rule.

    ``quiet_s``: how long the member's device has sent nothing at all, when that is known on
    the device's receipt timeline (a live daemon): then that is the silence, however far its
    fix times lag ``now_s`` (a backlog drained, a paced replay); the end is still dated in fix
    time."""
    quiet = now_s - silent_since_s if quiet_s is None else quiet_s
    if quiet <= p.max_gap_s or s.state not in (ARRIVING, LEAVING):
        return s, ()
    end, checked_in = (silent_since_s, False) if s.state is ARRIVING else (s.leaving_s, True)
    return PairState(), (VisitEnded(member_id, site_id, utc(s.since_s), utc(end), checked_in),)
