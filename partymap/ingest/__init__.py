"""The ingestion daemon: receivers and field devices to positions, check-ins and the live map.

- :mod:`partymap.ingest.pipeline` — :func:`~partymap.ingest.pipeline.ingest`, every stage of a
  micro-batch in order (sources → nmea → epochs → quality → membership → presence → store),
  over the stage objects of :mod:`partymap.ingest.stages`, each owning its state;
- :mod:`partymap.ingest.daemon` — :class:`~partymap.ingest.daemon.Daemon`, composed of the
  device directory (:mod:`~partymap.ingest.devices`), the sources
  (:mod:`~partymap.ingest.sourceset`) feeding the collector (:mod:`~partymap.ingest.batching`),
  the pipeline thread (:mod:`~partymap.ingest.runner`) and its decoder process
  (:mod:`~partymap.ingest.supervisor`), a bounded write buffer and the writer
  thread (:mod:`~partymap.ingest.writer`), and the refreshes of the device directory and the
  site set (:mod:`~partymap.ingest.tasks`);
- :mod:`partymap.ingest.sources` — which sources to read, from settings and options;
- :mod:`partymap.ingest.metrics` — counters for ``/metrics``.

``partymap serve`` runs the daemon next to the API; ``partymap replay LOG --device ID`` runs it
over one recorded log, resumable from its last committed offset.
"""
