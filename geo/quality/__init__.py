"""Quality: the tuple of tiny named rules (:mod:`geo.quality.rules`), the same rules over a
batch (:mod:`geo.quality.batch`), and the replay guard that flags a position sentence another
device sent first (:mod:`geo.quality.replay_guard`)."""
