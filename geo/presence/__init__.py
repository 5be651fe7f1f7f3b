"""Presence per (member, site): the state value and pure step (:mod:`geo.presence.state`),
the per-fix reference tracker (:mod:`geo.presence.reference`) and the batch tracker
(:mod:`geo.presence.batch`) over its compiled kernel (:mod:`geo.presence.kernel`), its pair pool
(:mod:`geo.presence.pairs`, :mod:`geo.presence.columns`), member rows
(:mod:`geo.presence.members`) and events as columns (:mod:`geo.presence.events`)."""
