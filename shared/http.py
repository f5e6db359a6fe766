"""The HTTP edge every API function shares: resolver, error envelope, request time.

Handlers never build error responses: they raise domain errors (``shared.errors``) and this
module maps each to ``{"error": {"code", "message", "details"}}`` with its status. Unknown
exceptions become a 500 ``INTERNAL`` carrying the request id, logged with the trace, never
returned with it.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import auth, clock
from shared.errors import Forbidden, LoyaltyError, RateLimited, Unauthenticated
from shared.ids import ID_PATTERN
from shared.program import EVENT_TYPES

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a body may have: far above any valid request (a program
config nests 6 deep), far below the depth at which Python's parser or anything after it recurses
out of stack (a RecursionError: a 500)."""
MAX_INT_DIGITS = 4300
"""Longest integer literal a body may hold (Python's own limit for ``int(str)``; points are at most
10 digits)."""
_UNION_TAGS = frozenset(EVENT_TYPES) | {"year_end", "rolling_days", "month_end", "never"}
_LOCATIONS = {"body", "path", "query", "header", "cookie"}

logger = Logger()
# The namespace is set by the stack; the default keeps a stray import (tests, tools) valid.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Loyalty"))

ProgramIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN, description="Program id")]
MemberIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN, description="Member id")]
RedemptionIdPath = Annotated[
    str, Path(min_length=1, max_length=128, pattern=ID_PATTERN, description="The redemption_id of a redemption")
]


def error_body(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None, **extra: Any
) -> Response:
    payload: dict[str, Any] = {"code": code, "message": message, "details": details or []}
    payload.update(extra)
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps({"error": payload}, separators=(",", ":")),
    )


def _field_detail(error: dict[str, Any]) -> dict[str, Any]:
    loc = list(error.get("loc", ()))
    location = loc.pop(0) if loc and loc[0] in _LOCATIONS else "body"
    if error.get("type") == "json_invalid":
        pos = loc[0] if loc else "?"
        return {
            "field": "body",
            "in": "body",
            "message": f"malformed JSON: {error.get('ctx', {}).get('error', '')} at {pos}",
        }
    # Discriminated unions put the tag in the location ("login"); a client never wrote it.
    # Drop only the tag pydantic inserted: right at the start of the body, after a list index
    # (earning_rules.0.<tag>) or after "expiry"; a member attribute called "login" stays.
    parts = [
        str(part)
        for index, part in enumerate(loc)
        if not (part in _UNION_TAGS and (index == 0 or isinstance(loc[index - 1], int) or loc[index - 1] == "expiry"))
    ]
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        parts.append(str(error.get("ctx", {}).get("discriminator", "type")).strip("'"))
    field = ".".join(parts) or location
    return {"field": field, "in": location, "message": error.get("msg", "invalid")}


def validation_response(errors: list[dict[str, Any]]) -> Response:
    details = [_field_detail(e) for e in errors]
    fields = ", ".join(sorted({d["field"] for d in details}))
    return error_body(422, "VALIDATION_ERROR", f"invalid request: {fields}", details)


_TOO_DEEP = f"arrays and objects nested deeper than {MAX_JSON_DEPTH} levels"


class _NotJson(ValueError):
    """A body ``json.loads`` would take (or die on) that is not a JSON document this API reads."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NotJson(f"an integer literal has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _nested_too_deep(value: Any) -> bool:
    """True when arrays/objects nest deeper than :data:`MAX_JSON_DEPTH` (iterative: no recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _offset_of_refusal(text: str) -> int:
    """Where ``text`` first nests too deep, holds too long an integer or a NaN/Infinity (else 0).

    Run only for a refused body, to point at the problem as a parse error would.
    """
    depth = digits = 0
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        digits = digits + 1 if "0" <= char <= "9" else 0
        if digits > MAX_INT_DIGITS:
            return index - digits + 1
        if char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return index
        elif char in "]}":
            depth -= 1
        elif char == '"':
            in_string = True
        elif char in "NI":  # outside strings only NaN, Infinity and -Infinity hold these
            return index
    return 0


def parse_json_body(text: str) -> Any:
    """``json.loads`` for request bodies: RFC 8259 JSON within the limits above, or a
    :class:`json.JSONDecodeError` (which the resolver's validation turns into a 422 naming ``body``).

    ``json.loads`` alone raises other errors on input under 64 KiB that reached the handlers as
    500s: a ``ValueError`` for an integer literal over Python's digit limit and a
    ``RecursionError`` for arrays nested a few thousand deep. It also takes ``NaN`` and
    ``Infinity``, which are not JSON.
    """
    try:
        value = json.loads(text, parse_int=_parse_int, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise
    except _NotJson as refused:
        raise json.JSONDecodeError(str(refused), text, _offset_of_refusal(text)) from None
    except RecursionError:
        raise json.JSONDecodeError(_TOO_DEEP, text, _offset_of_refusal(text)) from None
    except ValueError:  # a number Python refuses to convert (an interpreter limit below ours)
        raise json.JSONDecodeError("a number literal too long to read", text, _offset_of_refusal(text)) from None
    if _nested_too_deep(value):
        raise json.JSONDecodeError(_TOO_DEEP, text, _offset_of_refusal(text))
    return value


def make_resolver() -> APIGatewayHttpResolver:
    """An HTTP API (payload v2) resolver with validation on and our error envelope.

    Bodies are parsed by :func:`parse_json_body`, so no body is a 500: malformed or over-deep
    JSON is a 422 ``VALIDATION_ERROR`` naming the field ``body``.
    """
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        return validation_response(list(exc.errors()))

    @app.exception_handler(LoyaltyError)
    def _domain(exc: LoyaltyError) -> Response:
        if exc.status >= 500:
            logger.warning("request not applied", extra={"code": exc.code})
        if isinstance(exc, Forbidden | Unauthenticated):
            _log_refusal(exc, app.current_event.request_context.route_key)
        response = error_body(exc.status, exc.code, exc.message, exc.details)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(NotFoundError)
    def _no_route(_exc: NotFoundError) -> Response:
        return error_body(404, "ROUTE_NOT_FOUND", "no such route")

    @app.exception_handler(Exception)
    def _internal(_exc: Exception) -> Response:
        logger.exception("unhandled error")
        request_id = app.current_event.request_context.request_id
        return error_body(500, "INTERNAL", "internal error; quote the request id", request_id=request_id)

    return app


def request_time(app: APIGatewayHttpResolver) -> datetime:
    """When API Gateway received the request: the "now" of reads and the default business time."""
    return clock.from_epoch_ms(app.current_event.request_context.time_epoch)


def json_response(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type="application/json", body=body)


def caller(app: APIGatewayHttpResolver) -> auth.Caller | None:
    """Who is calling (set by :func:`lambda_handler` before routing); ``None`` on a public route."""
    found: auth.Caller | None = app.context.get("caller")
    return found


@functools.cache
def _auth_settings(member_claim: str, programs_claim: str, client_programs: str) -> auth.AuthSettings:
    return auth.AuthSettings.from_environment(
        {
            "AUTH_MEMBER_CLAIM": member_claim,
            "AUTH_PROGRAMS_CLAIM": programs_claim,
            "AUTH_CLIENT_PROGRAMS": client_programs,
        }
    )


def auth_settings() -> auth.AuthSettings:
    """The stack's claim settings, from the environment the CDK app gives every function."""
    names = ("AUTH_MEMBER_CLAIM", "AUTH_PROGRAMS_CLAIM", "AUTH_CLIENT_PROGRAMS")
    member_claim, programs_claim, client_programs = (os.environ.get(name, "") for name in names)
    return _auth_settings(member_claim, programs_claim, client_programs)


def _log_refusal(refusal: Forbidden | Unauthenticated, route_key: str) -> None:
    # The reason is a fixed code and the route a template: no token, claim value or member id.
    logger.info("request refused", extra={"status": refusal.status, "reason": refusal.reason, "route": route_key})


def _proxy_error(status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps({"error": error}, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _authorize(event: dict[str, Any]) -> auth.Caller | dict[str, Any] | None:
    """The caller of ``event`` (``None`` on a public route), or the proxy response refusing it (401/403)."""
    route_key = str(event.get("routeKey") or "")
    try:
        return auth.authorize(
            route_key,
            event.get("pathParameters"),
            (event.get("requestContext") or {}).get("authorizer"),
            auth_settings(),
        )
    except (Unauthenticated, Forbidden) as refusal:
        _log_refusal(refusal, route_key)
        error = {"code": refusal.code, "message": refusal.message, "details": refusal.details}
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(refusal, Unauthenticated) else None
        return _proxy_error(refusal.status, error, headers)


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(base64.b64decode(body, validate=False))
    return len(body.encode())


def _body_refused(message: str, detail: str) -> dict[str, Any]:
    error = {
        "code": "VALIDATION_ERROR",
        "message": message,
        "details": [{"field": "body", "in": "body", "message": detail}],
    }
    return {
        "statusCode": 422,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": error}, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def lambda_handler(app: APIGatewayHttpResolver) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda entry point for ``app``: authorization, size limit, logging context, metrics, routing."""

    @metrics.log_metrics
    @logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # Every route is checked here, before the body is even measured, as API Gateway would.
        authorized = _authorize(event)
        if isinstance(authorized, dict):
            return authorized
        if _body_size(event) > MAX_BODY_BYTES:
            # Refused before parsing: a huge body is never decoded, validated or logged.
            return _body_refused("request body too large", f"exceeds {MAX_BODY_BYTES} bytes")
        if event.get("isBase64Encoded") and event.get("body"):
            # API Gateway base64-encodes a body that is not text; JSON is UTF-8 text, so decode
            # it here (the resolver would fail on bytes that are not UTF-8: a 500).
            try:
                event = {**event, "body": base64.b64decode(event["body"]).decode(), "isBase64Encoded": False}
            except ValueError:
                return _body_refused("request body is not UTF-8 text", "is not UTF-8 text")
        if event.get("body"):
            # The API speaks JSON only; curl -d and some clients label JSON as a form. Parse
            # every body as JSON (malformed JSON is still a 422 naming the body).
            event = {**event, "headers": {**(event.get("headers") or {}), "content-type": "application/json"}}
        app.append_context(caller=authorized)
        return app.resolve(event, context)

    return handler
