"""API Gateway HTTP API (payload format 2.0) events, as API Gateway would send them."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode


def http_event(
    method: str,
    route_path: str,
    path: str,
    path_parameters: dict[str, str],
    body: str | bytes | dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    time_epoch_ms: int | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 proxy event for ``method path`` matched by route ``route_path``.

    ``authorizer`` is what a JWT authorizer passed on (``{"jwt": {"claims", "scopes"}}``).
    """
    if isinstance(body, dict):
        body = json.dumps(body)
    is_binary = False
    if isinstance(body, bytes):
        raw = body
        try:
            body = raw.decode()
        except UnicodeDecodeError:
            body, is_binary = base64.b64encode(raw).decode(), True
    request_headers = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    epoch = time_epoch_ms if time_epoch_ms is not None else int(time.time() * 1000)
    request_id = uuid.uuid4().hex
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route_path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": request_headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": request_headers.get("user-agent", "local"),
            },
            "requestId": request_id,
            "routeKey": f"{method} {route_path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch / 1000)),
            "timeEpoch": epoch,
        },
        "isBase64Encoded": is_binary,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if path_parameters:
        event["pathParameters"] = path_parameters
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = body
    return event
