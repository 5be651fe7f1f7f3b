"""``partymap demo``: the demo organisation (:mod:`partymap.seed`) on a fresh embedded database,
its recorded logs moved to today (:mod:`partymap.demo.logs`) and replayed through the ingestion
daemon while the API and dashboard serve them (:mod:`partymap.demo.run`)."""
