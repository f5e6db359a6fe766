"""JSON that ``json.loads`` does not refuse cleanly is a 422 on every route with a body, never a 500.

Under the 64 KiB limit, an integer literal over 4,300 digits (``ValueError``: Python's int max
str digits) and arrays or objects nested a few thousand deep (``RecursionError``) escaped the
resolver's body parsing as 500s. Each must be 422 ``VALIDATION_ERROR`` naming the field
``body``, with nothing written and nothing logged as an unhandled error.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from local.engine import DEFAULT_PROGRAM_FILE
from shared.http import MAX_BODY_BYTES, MAX_INT_DIGITS, MAX_JSON_DEPTH
from tests.integration.conftest import Api, order, table_items

# Every route that takes a body, for member `m`.
ROUTES = {
    "events": ("POST", "/v1/programs/default/members/{m}/events"),
    "redemptions": ("POST", "/v1/programs/default/members/{m}/redemptions"),
    "reversal": ("POST", "/v1/programs/default/members/{m}/redemptions/{m}.r/reversal"),
    "program PUT": ("PUT", "/v1/programs/default"),
}
TOO_LONG_INT = "9" * (MAX_INT_DIGITS + 1)
BODIES = {
    "integer over 4300 digits": f'{{"redemption_id": "r", "points": {TOO_LONG_INT}}}',
    "long negative integer deep inside": f'{{"a": {{"b": [1, 2, -{TOO_LONG_INT}]}}}}',
    "arrays 3000 deep": "[" * 3000 + "]" * 3000,
    "objects 5000 deep": '{"a":' * 5000 + "1" + "}" * 5000,
    "arrays 5000 deep, unclosed": "[" * 5000,
    "nesting inside a valid event": json.dumps(order("e", "1"))[:-1] + ', "x": ' + "[" * 4000 + "]" * 4000 + "}",
    "nesting just over the limit": '{"attributes": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}",
    "NaN": '{"redemption_id": "r", "points": NaN}',
    "-Infinity in ignored attributes": json.dumps(order("e", "1"))[:-2] + ', "x": -Infinity}}',
}


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("route", list(ROUTES))
def test_malformed_json_is_422_naming_the_body(
    api: Api, dynamo: Any, member_id: str, route: str, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    raw = BODIES[body].encode()
    assert len(raw) < MAX_BODY_BYTES  # under the size limit: parsed, not refused for its size
    method, path = ROUTES[route]
    before = table_items(dynamo, api.table_name)
    with caplog.at_level(logging.INFO, logger="loyalty"):
        reply = api.call(method, path.format(m=member_id), raw=raw)
    assert reply.status == 422, reply.raw[:300]
    error = reply.body["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in error["details"]] == ["body"]
    assert error["details"][0]["message"].startswith("malformed JSON: ")
    assert b"Traceback" not in reply.raw and b"request_id" not in reply.raw
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "logged as an unhandled error"
    assert table_items(dynamo, api.table_name) == before


def test_the_refusal_points_at_the_problem(api: Api, member_id: str) -> None:
    raw = f'{{"redemption_id": "r", "points": {TOO_LONG_INT}}}'
    reply = api.call("POST", ROUTES["redemptions"][1].format(m=member_id), raw=raw.encode())
    message = reply.body["error"]["details"][0]["message"]
    assert message == f"malformed JSON: an integer literal has more than {MAX_INT_DIGITS} digits at {raw.index('9')}"
    deep = api.call("POST", ROUTES["events"][1].format(m=member_id), raw=b"[" * 3000 + b"]" * 3000)
    expected = f"malformed JSON: arrays and objects nested deeper than {MAX_JSON_DEPTH} levels at {MAX_JSON_DEPTH}"
    assert deep.body["error"]["details"][0]["message"] == expected


def test_within_the_limits_bodies_reach_validation(api: Api, member_id: str) -> None:
    # The longest integer Python reads, and the deepest nesting allowed, are parsed; the models
    # then judge them like any other value.
    path = ROUTES["redemptions"][1].format(m=member_id)
    longest = api.call("POST", path, raw=f'{{"redemption_id": "r", "points": {"9" * MAX_INT_DIGITS}}}'.encode())
    assert longest.status == 422
    assert [d["field"] for d in longest.body["error"]["details"]] == ["points"]
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    deepest = api.call("POST", path, raw=f'{{"redemption_id": "r", "points": 1, "x": {nested}}}'.encode())
    assert deepest.status == 422
    assert [d["field"] for d in deepest.body["error"]["details"]] == ["x"]  # an unknown key, not bad JSON


def test_the_default_program_config_still_parses(api: Api) -> None:
    config = json.loads(DEFAULT_PROGRAM_FILE.read_text())
    reply = api.call("PUT", "/v1/programs/json-depth-check", config)
    assert reply.status in (200, 201), reply.body
