"""A local HTTP gateway: the CDK app's routes, served on 127.0.0.1 by the real handlers.

It turns each request into an API Gateway HTTP API (payload 2.0) event, calls the function the
route integrates with, and writes back its proxy response, as API Gateway does. Routes with a
JWT authorizer go through ``auth`` first (``local.auth``: auth off, or tokens checked with the
route's scopes from the template).
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.apigw import http_event
from local.auth import GatewayAuth, Refusal
from local.engine import Handler, LambdaContext

MAX_READ_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function_id: str
    name: str
    pattern: re.Pattern[str]
    authorization: str = "NONE"
    """``JWT`` when the route has the authorizer, ``NONE`` for an open route."""
    scopes: tuple[str, ...] = ()


def compile_routes(manifest: dict[str, Any]) -> list[Route]:
    """Routes from the manifest, ``{param}`` segments matching one path segment each."""
    routes = []
    for route in manifest["routes"]:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route["path"]))
        name = manifest["functions"][route["function"]]["name"]
        routes.append(
            Route(
                route["method"],
                route["path"],
                route["function"],
                name,
                re.compile(f"^{regex}$"),
                route.get("authorization", "NONE"),
                tuple(route.get("scopes", ())),
            )
        )
    return routes


def _envelope(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return status, headers, body


def dispatch(
    routes: list[Route],
    handlers: dict[str, Handler],
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    time_epoch_ms: int | None = None,
    auth: GatewayAuth | None = None,
) -> tuple[int, dict[str, str], bytes, str]:
    """Route one request; returns status, headers, body and the function name that served it.

    ``time_epoch_ms`` is API Gateway's request time (the wall clock when absent). ``auth``
    authorizes the routes with a JWT authorizer; without it their events carry no authorizer
    (the functions then refuse them: they never trust a request without claims).
    """
    url = urlsplit(target)
    path_matched = False
    for route in routes:
        match = route.pattern.match(url.path)
        if not match:
            continue
        path_matched = True
        if route.method != method:
            continue
        now_ms = time_epoch_ms if time_epoch_ms is not None else int(time.time() * 1000)
        authorizer = None
        if route.authorization == "JWT" and auth is not None:
            try:
                authorizer = auth.authorize(route.scopes, headers, now_ms)
            except Refusal as refusal:
                return (*_envelope(refusal.status, refusal.code, refusal.message), route.name)
        event = http_event(
            method,
            route.path,
            url.path,
            match.groupdict(),
            body if body else None,
            dict(parse_qsl(url.query, keep_blank_values=True)) or None,
            headers,
            now_ms,
            authorizer,
        )
        result = handlers[route.function_id](event, LambdaContext(route.name))
        payload = result.get("body") or ""
        raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        return int(result["statusCode"]), dict(result.get("headers") or {}), raw, route.name
    if path_matched:
        return (*_envelope(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {url.path}"), "-")
    return (*_envelope(404, "ROUTE_NOT_FOUND", f"no route for {method} {url.path}"), "-")


def make_server(
    host: str,
    port: int,
    routes: list[Route],
    handlers: dict[str, Handler],
    log: Callable[[str], None] | None = None,
    auth: GatewayAuth | None = None,
) -> ThreadingHTTPServer:
    """A threaded HTTP server; handlers run one at a time (see ``local.engine.SerializedHandler``)."""
    write_log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            started = time.perf_counter()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_READ_BYTES:
                status, headers, body = _envelope(413, "PAYLOAD_TOO_LARGE", "request body over 10 MiB")
                function = "-"
                self.close_connection = True
            else:
                data = self.rfile.read(length) if length else b""
                request_headers = {k.lower(): v for k, v in self.headers.items()}
                status, headers, body, function = dispatch(
                    routes, handlers, self.command, self.path, request_headers, data, auth=auth
                )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            elapsed = (time.perf_counter() - started) * 1000
            write_log(f"{self.command} {self.path} -> {status} [{function}] {elapsed:.1f} ms")

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per request is written by _serve

    server = ThreadingHTTPServer((host, port), RequestHandler)
    server.daemon_threads = True
    return server
