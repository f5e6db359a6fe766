"""Faults injected at the DynamoDB client on every write path: throttling, transaction
conflicts, server errors and lost answers (the write committed, its answer never arrived).

Injected at botocore's ``before-send``, below its retry loop, so botocore's own retries meet
them as they would meet DynamoDB's. Two proofs:

- every write path (earn, redeem, program PUT) x every fault, by hand: a transient fault is
  retried (with backoff) and the write takes effect once; a persistent one answers 503 BUSY
  with the envelope and leaves the table exactly as it was; the same request then succeeds;
- random fault schedules: the same random operations run on a clean program and, with faults
  on every DynamoDB request, on a twin program, the client retrying 503s with the same key
  as the contract says. Every final answer, snapshot, ledger and the set of items written
  must equal the clean run's: no partial write, nothing applied twice.

Jobs (tier evaluation, expiry sweep) join here when they land: kill one at random points
(raise from the hook after N writes), rerun it, and compare with a clean run the same way.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from local.engine import DEFAULT_PROGRAM_FILE
from shared import logic, write_cache
from tests.integration.conftest import NOW, Api, Reply, table_items
from tests.proofs.conftest import Fresh, before_send, error_response, operation_of, proof_settings

DEFAULT = json.loads(DEFAULT_PROGRAM_FILE.read_text())
CONFLICT = [{"Code": "None"}, {"Code": "None"}, {"Code": "TransactionConflict"}]


def lost_answer(request: Any) -> Any:
    """Send ``request`` for real, then answer as if the connection dropped: a 500."""
    from botocore.httpsession import URLLib3Session

    URLLib3Session().send(request)
    return error_response(request, "InternalServerError", 500)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's backoff, a hundred times shorter: the same retries, in less wall time
    (throttling backs off from 1 s, and these tests throttle on purpose hundreds of times)."""
    from botocore.retries.standard import ExponentialBackoff

    delay = ExponentialBackoff.delay_amount
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: delay(self, context) / 100)


FAULTS: dict[str, Callable[[Any], Any]] = {
    "throttling": lambda r: error_response(r, "ThrottlingException"),
    "capacity": lambda r: error_response(r, "ProvisionedThroughputExceededException"),
    "conflict": lambda r: error_response(r, "TransactionCanceledException", reasons=CONFLICT),
    "server error": lambda r: error_response(r, "InternalServerError", 500),
    "lost answer": lost_answer,
}


class Faults:
    """Answer the next ``times`` sends of ``operation`` (for ``program``'s keys) with ``fault``."""

    def __init__(self, operation: str, fault: str, times: int, program: str | None = None) -> None:
        self.operation, self.fault, self.left, self.sent = operation, fault, times, 0
        self.marker = f"PROGRAM#{program}".encode() if program else b""

    def __call__(self, request: Any, **_kwargs: Any) -> Any:
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        if operation_of(request) != self.operation or self.marker not in body or self.left <= 0:
            return None
        self.left -= 1
        self.sent += 1
        return FAULTS[self.fault](request)


# --- every write path x every fault ------------------------------------------------------


def _order(key: str) -> dict[str, Any]:
    attributes = {"order_id": key, "settled_amount": "80.00"}
    return {"event_id": key, "type": "order_completed", "occurred_at": "2026-11-22T02:00:00Z", "attributes": attributes}


def _write(api: Api, program: str, path: str, n: int) -> Reply:
    member = "faulty"
    if path == "earn":
        return api.call("POST", f"/v1/programs/{program}/members/{member}/events", _order(f"e{n}"), at=NOW)
    if path == "redeem":
        body = {"redemption_id": f"r{n}", "points": 5}
        return api.call("POST", f"/v1/programs/{program}/members/{member}/redemptions", body, at=NOW)
    document = copy.deepcopy(DEFAULT)
    document["earning_rules"][1]["growth"] = 100 + n  # a new version each time
    return api.call("PUT", f"/v1/programs/{program}", document, at=NOW)


READ_OF = {"earn": "BatchGetItem", "redeem": "BatchGetItem", "program": "GetItem"}
OK = {"earn": 201, "redeem": 201, "program": 200}
PATHS = ["earn", "redeem", "program"]


def _seeded(fresh: Fresh) -> tuple[Api, Any]:
    import boto3

    api = fresh.api
    assert api.call("POST", f"/v1/programs/{fresh.program}/members/faulty/events", _order("seed"), at=NOW).status == 201
    return api, boto3.client("dynamodb", endpoint_url=api.endpoint)


def _new_items(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> set[tuple[str, str]]:
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in before}
    return {(i["pk"]["S"], i["sk"]["S"]) for i in after} - keys


NEW_ITEMS = {"program": 1, "earn": 3, "redeem": 2}
"""Items one successful write adds: a config version; request + ledger + order record; request + ledger."""


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("operation", "fault"),
    [
        ("read", "throttling"),
        ("read", "server error"),
        ("TransactWriteItems", "throttling"),
        ("TransactWriteItems", "capacity"),
        ("TransactWriteItems", "conflict"),
        ("TransactWriteItems", "server error"),
        ("TransactWriteItems", "lost answer"),
    ],
)
def test_a_transient_fault_is_retried_and_the_write_takes_effect_once(
    fresh_table: Fresh, path: str, operation: str, fault: str
) -> None:
    api, dynamo = _seeded(fresh_table)
    if operation == "read":
        write_cache.clear()  # a container that has not seen the member reads it first
    before = table_items(dynamo, api.table_name)
    hook = Faults(READ_OF[path] if operation == "read" else operation, fault, 2)
    with before_send(hook):
        reply = _write(api, fresh_table.program, path, 1)
    assert hook.sent == 2
    assert reply.status == OK[path], reply.body
    # exactly one write's items: request record + ledger entry (+ the order's record for an
    # order; member updated), or one config version
    added = _new_items(before, table_items(dynamo, api.table_name))
    assert len(added) == NEW_ITEMS[path], added
    if path != "program":
        snapshot = api.call("GET", f"/v1/programs/{fresh_table.program}/members/faulty", at=NOW).body
        assert snapshot["version"] == 2
        assert snapshot["points"]["balance"] == (80 + 80 if path == "earn" else 80 - 5)
        # and the key replays
        assert _write(api, fresh_table.program, path, 1).status == 200


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("operation", "fault"),
    [
        ("read", "throttling"),
        ("read", "capacity"),
        ("read", "server error"),
        ("TransactWriteItems", "throttling"),
        ("TransactWriteItems", "capacity"),
        ("TransactWriteItems", "conflict"),
        ("TransactWriteItems", "server error"),
    ],
)
def test_a_persistent_fault_is_503_busy_and_writes_nothing(
    fresh_table: Fresh, monkeypatch: pytest.MonkeyPatch, path: str, operation: str, fault: str
) -> None:
    api, dynamo = _seeded(fresh_table)
    if operation == "read":
        write_cache.clear()  # a container that has not seen the member reads it first
    monkeypatch.setattr(logic, "WRITE_BUDGET_SECONDS", 0.3)  # endless conflicts: give up sooner
    before = table_items(dynamo, api.table_name)
    hook = Faults(READ_OF[path] if operation == "read" else operation, fault, 10_000)
    with before_send(hook):
        reply = _write(api, fresh_table.program, path, 1)
    # botocore's retries ran first (1 + 3 sends); a conflict is retried by the engine instead
    assert hook.sent == 4 if fault != "conflict" else hook.sent >= 2
    assert reply.status == 503, reply.body
    assert reply.body["error"]["code"] == "BUSY" and reply.body["error"]["message"]
    assert table_items(dynamo, api.table_name) == before
    # the same request, once DynamoDB recovers, goes through once
    assert _write(api, fresh_table.program, path, 1).status == OK[path]
    assert len(_new_items(before, table_items(dynamo, api.table_name))) == NEW_ITEMS[path]


# --- random fault schedules against a clean twin ---------------------------------------------

operations = st.one_of(
    st.tuples(st.just("order"), st.sampled_from(["ann", "ben"]), st.integers(0, 300)),
    st.tuples(st.just("login"), st.sampled_from(["ann", "ben"]), st.integers(0, 3)),
    st.tuples(st.just("redeem"), st.sampled_from(["ann", "ben"]), st.integers(1, 200)),
    st.tuples(st.just("replay"), st.sampled_from(["ann", "ben"]), st.integers(0, 100)),
    st.tuples(st.just("config"), st.just(""), st.integers(0, 50)),
)


def _request(op: tuple[str, str, int], n: int, sent: list[tuple[str, str, Any, dict[str, str]]]) -> Any:
    kind, member, value = op
    if kind == "order":
        body = _order(f"o{n}")
        body["attributes"]["settled_amount"] = f"{value}.50"
        return ("POST", f"/members/{member}/events", body, {})
    if kind == "login":
        return ("POST", f"/members/{member}/events", {"event_id": f"l{n}", "type": "login",
                "occurred_at": f"2026-11-2{value}T02:00:00Z"}, {})  # fmt: skip
    if kind == "redeem":
        return ("POST", f"/members/{member}/redemptions", {"redemption_id": f"r{n}", "points": value}, {})
    if kind == "replay" and sent:
        return sent[value % len(sent)]
    document = copy.deepcopy(DEFAULT)
    document["earning_rules"][1]["growth"] = value
    return ("PUT", "", document, {})


class RandomFaults:
    """Before every request for ``program``'s keys, maybe answer with a fault instead."""

    def __init__(self, program: str, seed: int, rate: float) -> None:
        self.marker, self.rng, self.rate = f"PROGRAM#{program}".encode(), random.Random(seed), rate
        self.injected: list[str] = []
        self.on = True

    def __call__(self, request: Any, **_kwargs: Any) -> Any:
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        if not self.on or self.marker not in body or self.rng.random() >= self.rate:
            return None
        choices = ["throttling", "capacity", "server error"]
        if operation_of(request) == "TransactWriteItems":
            choices += ["conflict", "lost answer"]
        fault = self.rng.choice(choices)
        self.injected.append(f"{operation_of(request)}:{fault}")
        return FAULTS[fault](request)


def _view(reply: Reply, program: str) -> tuple[int, Any]:
    return reply.status, json.loads(reply.raw.decode().replace(program, "<program>")) if reply.raw else None


def _keys(items: list[dict[str, Any]], program: str) -> list[tuple[str, str]]:
    """The keys of ``program``'s items, its id masked."""
    mine = [i for i in items if i["pk"]["S"] == f"PROGRAM#{program}" or i["pk"]["S"].startswith(f"PROGRAM#{program}#")]
    return sorted((i["pk"]["S"].replace(program, "<p>"), i["sk"]["S"]) for i in mine)


def test_random_fault_schedules_end_where_a_clean_run_ends(fresh_table: Fresh) -> None:
    api = fresh_table.api
    import boto3

    dynamo = boto3.client("dynamodb", endpoint_url=api.endpoint)
    counter = [0]

    @proof_settings(40)
    @given(ops=st.lists(operations, min_size=2, max_size=8), seed=st.integers(0, 2**32),
           rate=st.sampled_from([0.15, 0.3, 0.5]))  # fmt: skip
    def run(ops: list[tuple[str, str, int]], seed: int, rate: float) -> None:
        counter[0] += 1
        clean, faulty = f"clean-{counter[0]}-{fresh_table.program}", f"twin-{counter[0]}-{fresh_table.program}"
        for program in (clean, faulty):
            assert api.call("PUT", f"/v1/programs/{program}", DEFAULT, at=NOW).status == 201
        sent: list[Any] = []
        hook = RandomFaults(faulty, seed, rate)
        for n, op in enumerate(ops):
            method, path, body, headers = request = _request(op, n, sent)
            sent.append(request)
            expected = api.call(method, f"/v1/programs/{clean}{path}", body, headers=headers, at=NOW)
            attempts = []
            hook.on = True
            with before_send(hook):
                while True:  # the contract: 503 BUSY means "send the same request again"
                    reply = api.call(method, f"/v1/programs/{faulty}{path}", body, headers=headers, at=NOW)
                    attempts.append(reply.status)
                    if reply.status != 503:
                        break
                    assert reply.body["error"]["code"] == "BUSY"
                    hook.on = len(attempts) < 10  # DynamoDB recovers in the end
            note(f"{op} -> clean {expected.status}, faulty {attempts}, faults {hook.injected[-6:]}")
            got, want = _view(reply, faulty), _view(expected, clean)
            if got != want and attempts[:-1] and want[0] == 201 and got[0] == 200:
                # the first attempt committed but its answer was lost: the retry is a replay
                got = (201, got[1])
            assert got == want
        for member in ("ann", "ben"):
            for suffix in ("", "/ledger?limit=100"):
                got = api.call("GET", f"/v1/programs/{faulty}/members/{member}{suffix}", at=NOW)
                want = api.call("GET", f"/v1/programs/{clean}/members/{member}{suffix}", at=NOW)
                assert _view(got, faulty) == _view(want, clean)
        # and the same items exist, no more: nothing partial, nothing twice
        items = table_items(dynamo, api.table_name)
        assert _keys(items, clean) == _keys(items, faulty)

    run()
