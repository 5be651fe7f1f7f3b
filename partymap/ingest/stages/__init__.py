"""The pipeline's stages, one small object each, owning the state it keeps between batches.

:func:`partymap.ingest.pipeline.ingest` lists them in order. Each takes the batch (and the
directory in force for it) and returns what the next one needs; only the pipeline thread calls
them. State that another thread replaces (a refreshed device directory, a new version of the
site set) is handed over through the owning stage's ``offer`` and picked up between batches.
"""
