"""What an id looks like (program, member, client keys): the API and the jobs both check it.

Never ``#``: keys join ids with ``#`` (``shared.models``), so they cannot collide. A module of
its own so that checking an id imports neither the API's request models nor PynamoDB.
"""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
