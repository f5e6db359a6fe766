"""Code every Lambda function imports.

Layers, in the order a request meets them:
- ``shared.http``: the HTTP edge (resolver, error envelope); knows nothing of rules.
- ``shared.logic``: one function per use case (``report_event``, ``redeem_points``...).
- ``shared.rules`` and ``shared.program``: pure domain rules and the program config; no I/O.
- ``shared.store``: data access, the only code that talks to DynamoDB.
"""
