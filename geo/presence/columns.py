"""Columns for presence state: the storage behind the batch tracker.

:class:`PairColumns` holds pair states (key ``member_row << 32 | site``) and snapshots of
them; :class:`geo.presence.pairs.PairTable` keeps the pairs that are not OUTSIDE in one.

>>> pairs = PairColumns.empty(2)
>>> pairs.key[:] = [(7 << SITE_BITS) | 3, (7 << SITE_BITS) | 5]
>>> pairs.take(np.array([1])).key.tolist() == [(7 << 32) | 5]
True
>>> pairs.nbytes() // 2  # bytes per pair
68
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from geo.model import PresenceState
from geo.presence.state import PairState
from gnss.fixtable import SYSTEMS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

OUT, ARR, PRE, LEA = 0, 1, 2, 3
STATES = (
    PresenceState.OUTSIDE,
    PresenceState.ARRIVING,
    PresenceState.PRESENT,
    PresenceState.LEAVING,
)
SITE_BITS = 32
SITE_MASK = (1 << SITE_BITS) - 1
N_SYS = len(SYSTEMS)


Keys = TypeVar("Keys", int, IntArray)  # one pair or many


def pair_key(member: Keys, site: Keys) -> Keys:
    """The one key of a (member, site) pair: ``member << SITE_BITS | site``. The tracker keys
    its pairs by member row and site position, the presence mirror by stored member and site
    ids: the same layout over two numberings.

    >>> pair_ids(pair_key(np.array([7]), np.array([5])))
    (array([7]), array([5]))
    """
    return (member << SITE_BITS) | site


def pair_ids(key: Keys) -> tuple[Keys, Keys]:
    """(member, site) of pair keys (:func:`pair_key`)."""
    return key >> SITE_BITS, key & SITE_MASK


PAIR = np.dtype(
    [
        ("key", np.int64),
        ("state", np.int8),
        ("since", np.float64),  # first inside fix of the visit
        ("leaving", np.float64),  # first outside fix while LEAVING
        ("count", np.int32),  # the check-in evidence, as in geo.presence.state.PairState
        ("last_in", np.float64),
        ("quality", np.int8),
        ("hdop", np.float64),
        ("acc", np.float64),
        ("sats", np.int16, (N_SYS,)),
    ]
)
_EMPTY = np.array([(-1, OUT, np.nan, np.nan, 0, np.nan, 0, np.nan, np.nan, (0,) * N_SYS)], PAIR)
# Records move as rows of plain words: numpy copies those with a fast path, while fancy
# indexing of a structured dtype goes field by field (several times slower).
_WORDS = PAIR.itemsize // 4
_EMPTY_WORDS = _EMPTY.view(np.int32).reshape(1, _WORDS)


def _records(words: npt.NDArray[np.int32]) -> npt.NDArray[np.void]:
    return np.ascontiguousarray(words).view(PAIR).reshape(-1)


class PairColumns:
    """Pair states (or a snapshot of them for events): one packed record per pair.

    Records rather than separate columns: moving a pair between the table, a round's working
    set and an event is one gather or scatter of 68 bytes, not ten.
    """

    __slots__ = ("rec", "words")

    def __init__(self, rec: npt.NDArray[np.void]) -> None:
        self.rec = rec
        self.words = rec.view(np.int32).reshape(-1, _WORDS)

    @classmethod
    def empty(cls, n: int = 0) -> PairColumns:
        return cls(_records(np.broadcast_to(_EMPTY_WORDS, (n, _WORDS)).copy()))

    def __len__(self) -> int:
        return len(self.rec)

    key = property(lambda self: self.rec["key"])
    state = property(lambda self: self.rec["state"])
    since = property(lambda self: self.rec["since"])
    leaving = property(lambda self: self.rec["leaving"])
    count = property(lambda self: self.rec["count"])
    last_in = property(lambda self: self.rec["last_in"])
    quality = property(lambda self: self.rec["quality"])
    hdop = property(lambda self: self.rec["hdop"])
    acc = property(lambda self: self.rec["acc"])
    sats = property(lambda self: self.rec["sats"])

    def take(self, idx: IntArray | BoolArray) -> PairColumns:
        if idx.dtype == np.bool_:
            mask: BoolArray = np.asarray(idx, dtype=np.bool_)
            return PairColumns(_records(np.compress(mask, self.words, axis=0)))
        return PairColumns(_records(np.take(self.words, idx, axis=0)))

    def put(self, idx: IntArray | BoolArray, src: PairColumns) -> None:
        self.words[idx] = src.words

    @staticmethod
    def concat(parts: list[PairColumns]) -> PairColumns:
        return PairColumns(np.concatenate([p.rec for p in parts]))

    def nbytes(self) -> int:
        return int(self.rec.nbytes)

    def pair_state(self, i: int) -> PairState:
        return PairState(
            state=STATES[int(self.state[i])],
            since_s=float(self.since[i]),
            leaving_s=float(self.leaving[i]),
            count=int(self.count[i]),
            last_inside_s=float(self.last_in[i]),
            quality=int(self.quality[i]),
            hdop=float(self.hdop[i]),
            accuracy_m=float(self.acc[i]),
            sats=tuple(int(v) for v in self.sats[i]),
        )
