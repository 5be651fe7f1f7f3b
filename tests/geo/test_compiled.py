"""The compiled loops: their constants agree with the definitions they copy.

numba's disk cache is keyed on the compiled function's own file, so the values compiled into
a loop are written out in that file; these tests tie them to their sources.
"""

from __future__ import annotations

import geo.presence.kernel as presence
import geo.sites.kernel as fence
from geo.presence import columns as pair_columns
from geo.presence.state import Ev
from geo.quality.batch import UNTRUSTED_TIME_BITS
from geo.sites import grid, shapes


def test_presence_loop_constants() -> None:
    states = (pair_columns.OUT, pair_columns.ARR, pair_columns.PRE, pair_columns.LEA)
    assert states == (presence.OUT, presence.ARR, presence.PRE, presence.LEA)
    assert (presence.SITE_BITS, presence.SITE_MASK) == (
        pair_columns.SITE_BITS,
        pair_columns.SITE_MASK,
    )
    evidence = (presence.ALIVE, presence.OUTSIDE, presence.BETWEEN, presence.INSIDE)
    assert evidence == (Ev.ALIVE, Ev.OUTSIDE, Ev.BETWEEN, Ev.INSIDE)
    assert int(UNTRUSTED_TIME_BITS) == presence.UNTRUSTED_TIME


def test_membership_pass_constants() -> None:
    assert (fence.SHIFT, fence.BLOCK) == (grid.SHIFT, grid.BLOCK)
    assert fence.SAFETY_MARGIN_M == shapes.SAFETY_MARGIN_M
