"""partymap: BeiDou/GNSS presence, check-ins and meeting attendance for party organisations.

This package holds what sits on top of the layers (DESIGN §1): settings, the ingestion wiring and
the command line. The layers themselves are the top-level packages ``gnss``, ``geo``, ``store``,
``maps`` and ``api``.
"""

__version__ = "0.1.0"
