"""A local HTTP gateway: the CDK app's routes, served on 127.0.0.1 by the real handlers.

It turns each request into an API Gateway HTTP API (payload 2.0) event, calls the function the
route integrates with, and writes back its proxy response, as API Gateway does. Routes with a
JWT authorizer go through ``auth`` first (``local.auth``: auth off, or tokens checked with the
route's scopes from the template).

Every answer carries the JSON error envelope when it is an error, whatever the request: an
unknown path is 404 ``ROUTE_NOT_FOUND``, a known path with another method (``OPTIONS``,
``TRACE``, ``DELETE``...) 405 ``METHOD_NOT_ALLOWED`` with an ``Allow`` header (the deployed API
configures no CORS, so no ``OPTIONS`` is served here either), and requests the HTTP server
itself refuses (a malformed request line, headers too long) an envelope too, never an HTML
page. ``HEAD`` on a ``GET`` route is answered as ``GET``, without the body.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
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


def allowed_methods(routes: list[Route], path: str) -> list[str]:
    """The methods the gateway answers on ``path`` (``HEAD`` wherever ``GET`` is); empty: no route."""
    methods = {route.method for route in routes if route.pattern.match(path)}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


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
    # HEAD is GET without the body (the server leaves the body out; the length stays).
    wanted = "GET" if method == "HEAD" else method
    for route in routes:
        match = route.pattern.match(url.path)
        if not match or route.method != wanted:
            continue
        now_ms = time_epoch_ms if time_epoch_ms is not None else int(time.time() * 1000)
        authorizer = None
        if route.authorization == "JWT" and auth is not None:
            try:
                authorizer = auth.authorize(route.scopes, headers, now_ms)
            except Refusal as refusal:
                return (*_envelope(refusal.status, refusal.code, refusal.message), route.name)
        event = http_event(
            wanted,
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
    allowed = allowed_methods(routes, url.path)
    if allowed:
        status, headers, body = _envelope(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {url.path}")
        return status, {**headers, "Allow": ", ".join(allowed)}, body, "-"
    return (*_envelope(404, "ROUTE_NOT_FOUND", f"no route for {method} {url.path}"), "-")


class GatewayServer(ThreadingHTTPServer):
    """One thread per connection, and a listen backlog that holds a burst of clients.

    ``socketserver`` listens with a backlog of 5: about 20 clients connecting at once had
    connections dropped or reset before the accept loop took them.
    """

    request_queue_size = socket.SOMAXCONN
    daemon_threads = True


def make_server(
    host: str,
    port: int,
    routes: list[Route],
    handlers: dict[str, Handler],
    log: Callable[[str], None] | None = None,
    auth: GatewayAuth | None = None,
) -> GatewayServer:
    """A threaded HTTP server; handlers run one at a time (see ``local.engine.SerializedHandler``)."""
    write_log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __getattr__(self, name: str) -> Any:
            # Every method reaches dispatch (404/405 in the envelope), not http.server's 501 page.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def parse_request(self) -> bool:
            if not super().parse_request():
                return False
            if self.request_version == "HTTP/0.9":  # "GET /path" alone: served without any headers
                self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 requests are not supported")
                return False
            return True

        def _body_length(self) -> int | None:
            """The declared body length; ``None`` after answering a request whose length is unusable."""
            if self.headers.get("Transfer-Encoding", "identity").lower() != "identity":
                self.send_error(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
                return None
            text = self.headers.get("Content-Length") or "0"
            if not re.fullmatch(r"[0-9]+", text):
                self.send_error(HTTPStatus.BAD_REQUEST, f"bad Content-Length {text!r}")
                return None
            return int(text)

        def _serve(self) -> None:
            started = time.perf_counter()
            length = self._body_length()
            if length is None:
                return
            if length > MAX_READ_BYTES:
                status, headers, body = _envelope(413, "PAYLOAD_TOO_LARGE", "request body over 10 MiB")
                function = "-"
                self.close_connection = True
            else:
                data = self.rfile.read(length) if length else b""
                request_headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    status, headers, body, function = dispatch(
                        routes, handlers, self.command, self.path, request_headers, data, auth=auth
                    )
                except Exception:  # a bug here or in a handler: still an answer, never a dropped connection
                    traceback.print_exc(file=sys.stderr)
                    status, headers, body = _envelope(500, "INTERNAL", "the local gateway failed; see its log")
                    function = "-"
            self._answer(status, headers, body)
            elapsed = (time.perf_counter() - started) * 1000
            write_log(f"{self.command} {self.path} -> {status} [{function}] {elapsed:.1f} ms")

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """What http.server refuses itself (bad request line, headers too long...), in the envelope."""
            try:
                known: HTTPStatus | None = HTTPStatus(code)
            except ValueError:
                known = None
            text = message or (known.phrase if known else "error")
            if explain and (known is None or explain != known.description):
                text = f"{text}: {explain}"
            write_log(f"{getattr(self, 'requestline', '')!r} -> {code} [-] {text}")
            # A request line http.server could not read leaves the version at HTTP/0.9, for which
            # it writes no status line and no headers: answer those in HTTP/1.x like any other.
            if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
                self.request_version = "HTTP/1.0"
            self.close_connection = True
            _status, headers, body = _envelope(code, known.name if known else "HTTP_ERROR", text)
            self._answer(code, {**headers, "Connection": "close"}, body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per request is written by _serve

    return GatewayServer((host, port), RequestHandler)
