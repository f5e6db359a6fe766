"""API fuzzing against the OpenAPI document the routes generate (``openapi.json``).

Schemathesis turns the document into requests that fit it (positive) and requests that break
it (negative: wrong types, missing fields, out-of-range values, bad headers and queries), for
every operation; a second generator sends bytes no schema describes (broken JSON, binary,
wrong methods). Each request goes through the same gateway dispatch as ``make run`` into the
real handlers, on a table of the test's own. For every request:

- no 5xx: nothing a client sends makes the engine fail;
- every 4xx carries the error envelope ``{"error": {"code", "message", "details"}}``, the
  code in UPPER_SNAKE_CASE, and a 422 names each bad field;
- a rejected request (any 4xx) leaves the table exactly as it was, item for item.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import requests
import schemathesis
from hypothesis import given, note
from hypothesis import strategies as st
from schemathesis import GenerationMode

from local.gateway import dispatch
from local.openapi import DOCUMENT
from tests.integration.conftest import NOW, Api, table_items
from tests.proofs.conftest import Fresh, proof_settings

SCHEMA = schemathesis.openapi.from_path(str(DOCUMENT))
CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
AT = int(NOW.timestamp() * 1000)


def cases(program: str, member: str) -> st.SearchStrategy[Any]:
    """Schemathesis cases for every operation; a share of them aimed at a program (and a
    member) that exist, so requests get past the 404s into validation and the logic."""
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(SCHEMA.as_strategy(mode))
        strategies.append(SCHEMA.as_strategy(mode, path_parameters={"program_id": program}))
        for operation in SCHEMA.get_all_operations():
            op = operation.ok()
            if "{member_id}" in op.path:
                fixed = {"program_id": program, "member_id": member}
                strategies.append(op.as_strategy(generation_mode=mode, path_parameters=fixed))
    return st.tuples(st.one_of(strategies), st.sampled_from([None, *RECENT])).map(_recent)


RECENT = ["2026-11-22T03:59:00Z", "2026-11-01T00:00:00+08:00", "2026-01-01T00:00:00Z"]


def _recent(drawn: tuple[Any, str | None]) -> Any:
    """Random RFC 3339 times fall anywhere in years 1-9999: most are refused as before 1970
    or in the future. Moving some to recent times lets those bodies reach the rules."""
    case, when = drawn
    if when is not None and isinstance(case.body, dict) and isinstance(case.body.get("occurred_at"), str):
        case.body = {**case.body, "occurred_at": when}
    return case


def send(api: Api, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    status, _headers, raw, _function = dispatch(
        api.routes, api.handlers, method, target, headers, body, AT, auth=api.auth
    )
    return status, raw


def check_answer(status: int, raw: bytes) -> dict[str, Any]:
    """No 5xx; JSON; a 4xx has the envelope (and a 422 names its fields)."""
    assert status < 500, (status, raw[:500])
    payload = json.loads(raw)
    if status >= 400:
        error = payload["error"]
        assert set(error) >= {"code", "message", "details"}, payload
        assert CODE.match(error["code"]), payload
        assert isinstance(error["message"], str) and error["message"], payload
        assert isinstance(error["details"], list), payload
        if status == 422:
            assert error["details"], payload
            assert all(isinstance(d.get("field"), str) and d["field"] for d in error["details"]), payload
    return dict(payload)


class Table:
    """The table's items as of the last accepted request: a rejected one must leave them so."""

    def __init__(self, api: Api) -> None:
        import boto3

        self.api = api
        self.client = boto3.client("dynamodb", endpoint_url=api.endpoint)
        self.items = self.scan()

    def scan(self) -> list[dict[str, Any]]:
        return sorted(table_items(self.client, self.api.table_name), key=lambda i: (i["pk"]["S"], i["sk"]["S"]))

    def after(self, status: int, request: str) -> None:
        now = self.scan()
        if status >= 400:
            assert now == self.items, f"rejected request changed the table: {request}"
        self.items = now


def test_schema_driven_requests_never_fail_and_rejections_write_nothing(fresh_table: Fresh) -> None:
    api, program = fresh_table.api, fresh_table.program
    member = "fuzz-member"
    seed = {"event_id": "fuzz-seed", "type": "login", "occurred_at": "2026-11-22T00:00:00Z"}
    assert send(api, "POST", f"/v1/programs/{program}/members/{member}/events", {}, json.dumps(seed).encode())[0] == 201
    table = Table(api)
    seen: Counter[str] = Counter()

    @proof_settings(300)
    @given(case=cases(program, member))
    def one_request(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://local")
        fields = ("method", "url", "headers", "params", "json", "data", "cookies")
        prepared = requests.Request(**{k: kwargs[k] for k in fields if k in kwargs}).prepare()
        body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
        headers = {k.lower(): v for k, v in prepared.headers.items()}
        note(f"{prepared.method} {prepared.path_url} {headers} {body!r}")
        status, raw = send(api, str(prepared.method), str(prepared.path_url), headers, body)
        seen[f"{case.operation.label} {status}"] += 1
        check_answer(status, raw)
        table.after(status, f"{prepared.method} {prepared.path_url} {body[:300]!r}")

    one_request()
    print(sorted(seen.items()))
    statuses = {label.rsplit(" ", 1)[1] for label in seen}
    # The cases reached the logic, not only the validator: reads answered, unknown members and
    # programs refused by the logic (404), garbage by the validator (422). (A generated write that
    # is valid enough for a 201 is rare in 300 cases, so it is not required: it made this flaky.)
    assert {"200", "404", "422"} <= statuses, seen


# --- bytes no schema describes -------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@st.composite
def garbage(draw: st.DrawFn, program: str) -> tuple[str, str, dict[str, str], bytes]:
    member = draw(st.sampled_from(["fuzz-member", "nobody", "a" * 129, "x%23y", "%00"]))
    path = draw(
        st.sampled_from(
            [
                f"/v1/programs/{program}",
                f"/v1/programs/{program}/members/{member}",
                f"/v1/programs/{program}/members/{member}/events",
                f"/v1/programs/{program}/members/{member}/redemptions",
                f"/v1/programs/{program}/members/{member}/ledger",
                "/v1/programs//members//events",
                "/v1/programs",
                "/",
            ]
        )
    )
    query = draw(st.sampled_from(["", "?limit=0", "?limit=abc", "?cursor=%FF", "?limit=5&cursor=djE6MA", "?x=1"]))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            json_values.map(lambda value: json.dumps(value).encode()),
            st.sampled_from([b"{", b'{"event_id": "e"', b"null", b"[]", b'"text"', b"\xff\xfe", b'{"a":' * 50]),
        )
    )
    content_type = draw(st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]))
    headers = {"content-type": content_type} if content_type else {}
    if draw(st.booleans()):
        headers["if-match"] = draw(st.sampled_from(['"1"', "1", '"x"', '""', '"99999999999"']))
    return method, path + query, headers, body


def test_garbage_bytes_never_fail_and_write_nothing(fresh_table: Fresh) -> None:
    api, program = fresh_table.api, fresh_table.program
    table = Table(api)
    seen: Counter[int] = Counter()

    @proof_settings(120)
    @given(request=garbage(program))
    def one_request(request: tuple[str, str, dict[str, str], bytes]) -> None:
        method, target, headers, body = request
        note(f"{method} {target} {headers} {body!r}")
        status, raw = send(api, method, target, headers, body)
        seen[status] += 1
        check_answer(status, raw)
        table.after(status, f"{method} {target} {body[:300]!r}")

    one_request()
    print(dict(seen))
    assert {404, 405, 422} <= set(seen), seen
