"""Sentences grouped into navigation epochs, and each epoch finished into a ``Fix``.

The readable rules and their batch twins side by side: :mod:`gnss.epoch.rules` (gpsd-style
cycle ends) and :mod:`gnss.epoch.batch_rules` (the same over columns); :mod:`gnss.epoch.assemble`
(date, mode, accuracy) and :mod:`gnss.epoch.batch_assemble`; :mod:`gnss.epoch.decoder` (the
reference decoder of one device) and :mod:`gnss.epoch.batch` (many devices per micro-batch,
with device state in :mod:`gnss.epoch.devices` and the hand-off to the reference decoder in
:mod:`gnss.epoch.handoff`); :mod:`gnss.epoch.process` runs the batch decoder on a core of its
own; :mod:`gnss.epoch.accuracy` is the UERE rule. Import the module you need.
"""
