"""`make run` refuses ports already taken, by name, before it starts anything.

Two `make run`s at once used to end with the second's DynamoDB Local failing to bind, quietly,
and the first one's database answering (or a traceback from the gateway's bind).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from local import dynamodb, run


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_taken_gateway_port_is_named_before_anything_starts(taken: int) -> None:
    free = dynamodb.free_port()
    with pytest.raises(SystemExit, match=rf"port {taken} is in use .* `make run PORT=<port>`"):
        run.main(["--port", str(taken), "--dynamodb-port", str(free)])
    assert not dynamodb.port_in_use(free)  # no DynamoDB Local was started


def test_a_taken_database_port_is_named(taken: int) -> None:
    with pytest.raises(SystemExit, match=rf"port {taken} is in use .* `make run DYNAMODB_PORT=<port>`"):
        run.main(["--port", str(dynamodb.free_port()), "--dynamodb-port", str(taken)])
    with pytest.raises(RuntimeError, match=f"port {taken} is in use"):
        dynamodb.start(taken)  # nor does anything else start a database where one already listens


def test_a_free_port_is_free() -> None:
    assert not dynamodb.port_in_use(dynamodb.free_port())
