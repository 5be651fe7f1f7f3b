"""Development-only tools, never installed with partymap and never imported by it.

- Simulated receivers: :mod:`devkit.simulate` (``walk``, ``simulate(track, family)``, ``log``,
  ``damage``) over :mod:`devkit.families`, :mod:`devkit.receivers` and :mod:`devkit.sky`.
- Simulated devices on the wire: :mod:`devkit.devicesim` (TCP fleets for tests and benches) and
  :mod:`devkit.jt808` (JT/T 808 helmets and badges).
- Test services: :mod:`devkit.services` (throwaway PostGIS cluster and Mosquitto broker).
"""
