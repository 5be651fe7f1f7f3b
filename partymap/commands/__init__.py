"""Command groups of the ``partymap`` CLI, one module each."""
