"""partymap on several machines: NATS JetStream between the roles (docs/deploy.md).

``partymap serve --role all`` (the default) is one process with no broker. The other roles:

- :mod:`partymap.cluster.edge` — **edge**: accepts devices and publishes their raw chunks to the
  partitioned stream (:mod:`partymap.cluster.stream`), all data of one member in one partition;
- :mod:`partymap.cluster.worker` — **worker**: holds partitions through leases in PostgreSQL
  (:mod:`store.partitions`), runs the pipeline over them in order
  (:mod:`partymap.cluster.consume`) and commits each partition's stream sequence with the rows it
  covers, so nothing delivered twice is stored twice;
- the live feed and the replay guard go over NATS subjects (:mod:`partymap.cluster.worker`
  publishes, :mod:`partymap.cluster.run` relays to an API node's SSE clients), so every API node
  sees every worker's events and the guard sees every device;
- :mod:`partymap.cluster.changes` — changes of sites, devices, members and organisations
  announced to every node, which reads what they affect at once;
- :mod:`partymap.cluster.meetings` — the meeting task, on one worker at a time under a lease;
- :mod:`partymap.cluster.payload` — messages cut to what the NATS servers take;
- :mod:`partymap.cluster.run` — what each role runs, with ``/healthz`` and ``/metrics``.
"""
