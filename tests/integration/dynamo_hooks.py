"""Hooks on the engine's DynamoDB client, below botocore's retry loop (``before-send``): watch
each request, or answer it in DynamoDB's place (an injected error)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Hook = Callable[..., Any]


@contextmanager
def before_send(hook: Hook, name: str = "test-hook") -> Iterator[None]:
    """Run ``hook(request)`` before every DynamoDB request the engine sends (below botocore's
    retries, so they see what it returns); a hook returning a response answers in its place."""
    from shared.models import MemberItem

    client = MemberItem._get_connection().connection.client
    client.meta.events.register_first("before-send.dynamodb", hook, unique_id=name)
    try:
        yield
    finally:
        client.meta.events.unregister("before-send.dynamodb", unique_id=name)


def operation_of(request: Any) -> str:
    """``TransactWriteItems`` etc. from a botocore request."""
    target = request.headers.get("X-Amz-Target", b"")
    return (target.decode() if isinstance(target, bytes) else target).rpartition(".")[2]


def error_response(request: Any, code: str, status: int = 400, reasons: list[dict[str, str]] | None = None) -> Any:
    """A DynamoDB error answer, as the service would send it."""
    from botocore.awsrequest import AWSResponse

    payload: dict[str, Any] = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}
    if reasons is not None:
        payload["CancellationReasons"] = reasons
    body = json.dumps(payload).encode()

    class Raw:
        def stream(self, **_kwargs: Any) -> Any:
            yield body

    return AWSResponse(request.url, status, {"x-amzn-requestid": "injected"}, Raw())
