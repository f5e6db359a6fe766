"""Faults injected at the DynamoDB client on every write path: throttling, transaction
conflicts, server errors and lost answers (the write committed, its answer never arrived).

Injected at botocore's ``before-send``, below its retry loop, so botocore's own retries meet
them as they would meet DynamoDB's. Three proofs:

- every write path (earn, redeem, refund, redemption reversal, program PUT) x every fault, by
  hand: a transient fault is retried (with backoff) and the write takes effect once; a
  persistent one answers 503 BUSY with the envelope and leaves the table exactly as it was;
  the same request then succeeds, once. A member's own redemption (member token) takes a
  rate-limit token first, one more write: faults there too, and a 503 after it keeps only the
  token;
- random fault schedules: the same random operations (orders, logins, redemptions, refunds,
  reversals, replays, config changes) run on a clean program and, with faults on every
  DynamoDB request, on a twin program, the client retrying 503s with the same key as the
  contract says. Every final answer, snapshot, ledger and the set of items written must equal
  the clean run's: no partial write, nothing applied twice;
- the scheduled jobs (tier evaluation, expiry sweep) with faults on every request of their run
  (due-index queries, member reads and writes, outbox drains, progress), run again whenever a
  run dies or leaves members for later, until one completes: the items, snapshots, ledgers and
  the events published (by id; a repeat only with the same id and content) equal a clean twin
  run's.

Jobs killed outright at random points are ``test_job_kills.py``'s.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from local.engine import DEFAULT_PROGRAM_FILE
from shared import logic, write_cache
from tests.integration.conftest import NOW, Api, Reply, table_items
from tests.integration.jobs import events_to, published, run
from tests.proofs.conftest import Fresh, before_send, error_response, operation_of, proof_settings
from tests.proofs.test_job_kills import JOBS, job_state, seed_due_members

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
    member = f"/v1/programs/{program}/members/faulty"
    if path == "earn":
        return api.call("POST", f"{member}/events", _order(f"e{n}"), at=NOW)
    if path == "redeem":
        return api.call("POST", f"{member}/redemptions", {"redemption_id": f"r{n}", "points": 5}, at=NOW)
    if path == "refund":  # 10.00 of the seed order's 80.00
        attributes = {"order_id": "seed", "refund_amount": "10.00"}
        body = {"event_id": f"x{n}", "type": "order_refunded", "occurred_at": "2026-11-22T03:00:00Z"}
        return api.call("POST", f"{member}/events", {**body, "attributes": attributes}, at=NOW)
    if path == "reversal":  # the seed redemption's 30 points back
        return api.call("POST", f"{member}/redemptions/seed/reversal", {"reason": f"cancelled {n}"}, at=NOW)
    document = copy.deepcopy(DEFAULT)
    document["earning_rules"][1]["growth"] = 100 + n  # a new version each time
    return api.call("PUT", f"/v1/programs/{program}", document, at=NOW)


READ_OF = {"earn": "BatchGetItem", "redeem": "BatchGetItem", "refund": "BatchGetItem", "reversal": "BatchGetItem",
           "program": "GetItem"}  # fmt: skip
OK = {"earn": 201, "redeem": 201, "refund": 201, "reversal": 201, "program": 200}
PATHS = ["earn", "redeem", "refund", "reversal", "program"]
AFTER = {"earn": (2, 80 + 80), "redeem": (2, 80 - 5), "refund": (2, 80 - 10), "reversal": (3, 80 - 30 + 30)}
"""The member's (version, balance) after one successful write of each member path."""


def _seeded(fresh: Fresh) -> tuple[Api, Any]:
    """The member ``faulty`` with an 80.00 order (80 points) and, for the reversal path's
    sake, nothing else: ``_seeded_for`` adds the redemption a reversal needs."""
    import boto3

    api = fresh.api
    assert api.call("POST", f"/v1/programs/{fresh.program}/members/faulty/events", _order("seed"), at=NOW).status == 201
    return api, boto3.client("dynamodb", endpoint_url=api.endpoint)


def _seeded_for(fresh: Fresh, path: str) -> tuple[Api, Any]:
    api, dynamo = _seeded(fresh)
    if path == "reversal":
        body = {"redemption_id": "seed", "points": 30}
        reply = api.call("POST", f"/v1/programs/{fresh.program}/members/faulty/redemptions", body, at=NOW)
        assert reply.status == 201, reply.body
    return api, dynamo


def _new_items(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> set[tuple[str, str]]:
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in before}
    return {(i["pk"]["S"], i["sk"]["S"]) for i in after} - keys


NEW_ITEMS = {"program": 1, "earn": 3, "redeem": 2, "refund": 2, "reversal": 3}
"""Items one successful write adds: a config version; request + ledger + order record; request +
ledger (a refund updates the order's record, adds none); request + ledger + what is left of the
redemption (none now)."""


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
    api, dynamo = _seeded_for(fresh_table, path)
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
    after = table_items(dynamo, api.table_name)
    added = _new_items(before, after)
    assert len(added) == NEW_ITEMS[path], added
    if path != "program":
        snapshot = api.call("GET", f"/v1/programs/{fresh_table.program}/members/faulty", at=NOW).body
        assert (snapshot["version"], snapshot["points"]["balance"]) == AFTER[path]
        # and the key replays
        assert _write(api, fresh_table.program, path, 1).status == 200
    if path == "refund":  # the order's record counts the refund once
        (order,) = [i for i in after if i["pk"]["S"].endswith("#ORDER#seed")]
        assert (order["refunded_amount"]["S"], order["refunded_points"]["N"]) == ("10.00", "10")


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
    api, dynamo = _seeded_for(fresh_table, path)
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


MEMBER_FAULTS = [
    # (operation, fault, times): times None = until the write gives up
    ("UpdateItem", "throttling", 2),
    ("UpdateItem", "server error", 2),
    ("UpdateItem", "lost answer", 1),
    ("UpdateItem", "throttling", None),
    ("BatchGetItem", "throttling", None),
    ("TransactWriteItems", "conflict", None),
    ("TransactWriteItems", "server error", None),
]


@pytest.mark.parametrize(("operation", "fault", "times"), MEMBER_FAULTS)
def test_a_member_redemption_meets_faults_on_its_rate_limit_and_its_write(
    fresh_table: Fresh, monkeypatch: pytest.MonkeyPatch, operation: str, fault: str, times: int | None
) -> None:
    """A member's own redemption (a member token) first takes a rate-limit token (one
    conditional UpdateItem), then writes: a fault on either is retried, or answered 503 BUSY
    with nothing written but, once the token was taken, the token (the member's window counts
    the attempt, as it counts any refused one)."""
    from local import auth as local_auth

    api, dynamo = _seeded(fresh_table)
    key = bytes(range(32))
    secured = replace(api, auth=local_auth.LocalJwtAuthorizer.from_manifest(api.manifest, key=key))
    claims = local_auth.member_claims(api.manifest, "faulty", [fresh_table.program])
    headers = {"Authorization": f"Bearer {local_auth.mint(key, claims, int(NOW.timestamp()))}"}
    monkeypatch.setattr(logic, "WRITE_BUDGET_SECONDS", 0.3)
    if operation == "BatchGetItem":
        write_cache.clear()  # a container that has not seen the member reads it first

    def redeem() -> Reply:
        path = f"/v1/programs/{fresh_table.program}/members/faulty/redemptions"
        return secured.call("POST", path, {"redemption_id": "mine", "points": 5}, headers=headers, at=NOW)

    def tokens() -> int:
        return sum(
            int(i["count"]["N"]) for i in table_items(dynamo, api.table_name) if i["sk"]["S"].startswith("RATE#")
        )

    before = table_items(dynamo, api.table_name)
    hook = Faults(operation, fault, times or 10_000)
    with before_send(hook):
        reply = redeem()
    assert hook.sent >= 1
    if times is not None:  # transient: retried below the engine, the write took effect once
        assert reply.status == 201, reply.body
        # a lost answer's retry counts the token again: the member pays at most one extra
        assert tokens() == (2 if fault == "lost answer" else 1)
    else:
        assert (reply.status, reply.body["error"]["code"]) == (503, "BUSY"), reply.body
        assert reply.body["error"]["message"]
        rate = [i for i in table_items(dynamo, api.table_name) if i["sk"]["S"].startswith("RATE#")]
        assert [i for i in table_items(dynamo, api.table_name) if i not in rate] == before
        assert tokens() == (0 if operation == "UpdateItem" else 1)
        assert redeem().status == 201  # once DynamoDB recovers
    added = _new_items(before, table_items(dynamo, api.table_name))
    assert {sk.partition("#")[0] for _pk, sk in added} == {"REQUEST", "LEDGER", "RATE"}, added
    snapshot = api.call("GET", f"/v1/programs/{fresh_table.program}/members/faulty", at=NOW).body
    assert (snapshot["version"], snapshot["points"]["balance"]) == AFTER["redeem"]
    assert redeem().status == 200  # and the key replays


# --- random fault schedules against a clean twin ---------------------------------------------

operations = st.one_of(
    st.tuples(st.just("order"), st.sampled_from(["ann", "ben"]), st.integers(0, 300)),
    st.tuples(st.just("login"), st.sampled_from(["ann", "ben"]), st.integers(0, 3)),
    st.tuples(st.just("redeem"), st.sampled_from(["ann", "ben"]), st.integers(1, 200)),
    st.tuples(st.just("replay"), st.sampled_from(["ann", "ben"]), st.integers(0, 100)),
    st.tuples(st.just("config"), st.just(""), st.integers(0, 50)),
    st.tuples(st.just("refund"), st.sampled_from(["ann", "ben"]), st.integers(0, 400)),
    st.tuples(st.just("reverse"), st.sampled_from(["ann", "ben"]), st.integers(0, 100)),
)


START = [("order", "ann", 120), ("redeem", "ann", 50)]
"""Every schedule starts here (faults included): orders to refund, a redemption to reverse."""


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
    if kind == "refund":
        # one of the member's earlier orders (or one never reported): in full, or a part that
        # may be more than is left or than the order itself
        orders = [b["attributes"]["order_id"] for _m, p, b, _h in sent if p == f"/members/{member}/events"
                  and b["type"] == "order_completed"]  # fmt: skip
        attributes = {"order_id": orders[value % len(orders)] if orders else "never-reported"}
        if value % 3:
            attributes["refund_amount"] = f"{value // 2}.25"
        body = {"event_id": f"x{n}", "type": "order_refunded", "occurred_at": "2026-11-22T03:00:00Z"}
        return ("POST", f"/members/{member}/events", {**body, "attributes": attributes}, {})
    if kind == "reverse":
        # one of the member's earlier redemptions (answered or not), or one that never was
        ids = [b["redemption_id"] for _m, p, b, _h in sent if p == f"/members/{member}/redemptions"]
        redemption = ids[value % len(ids)] if ids else "never-redeemed"
        return ("POST", f"/members/{member}/redemptions/{redemption}/reversal", {"reason": f"r{value % 2}"}, {})
    document = copy.deepcopy(DEFAULT)
    document["earning_rules"][1]["growth"] = value
    return ("PUT", "", document, {})


WRITES = {"TransactWriteItems", "BatchWriteItem", "PutItem", "UpdateItem"}


class RandomFaults:
    """Before every request that names ``marker`` (default: ``program``'s keys), maybe answer
    with a fault instead: throttling, capacity, a server error; for a write also a lost answer,
    for a transaction also a conflict. ``bursts``: operations whose fault goes on for up to
    ``burst`` more sends of them (a throttled partition, a node down), so that retries meet it
    too and some outlast them."""

    def __init__(
        self,
        program: str,
        seed: int,
        rate: float,
        marker: str | None = None,
        burst: int = 0,
        bursts: frozenset[str] = frozenset(),
    ) -> None:
        self.marker, self.rng, self.rate = (marker or f"PROGRAM#{program}").encode(), random.Random(seed), rate
        self.burst, self.burst_ops, self.bursts = burst, bursts, dict[str, tuple[int, str]]()
        self.injected: list[str] = []
        self.on = True

    def __call__(self, request: Any, **_kwargs: Any) -> Any:
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        if not self.on or self.marker not in body:
            return None
        operation = operation_of(request)
        left, fault = self.bursts.get(operation, (0, ""))
        if left > 0:  # the same fault again
            self.bursts[operation] = (left - 1, fault)
        elif self.rng.random() < self.rate:
            choices = ["throttling", "capacity", "server error"]
            if operation in WRITES:
                choices.append("lost answer")
            if operation == "TransactWriteItems":
                choices.append("conflict")
            fault = self.rng.choice(choices)
            if operation in self.burst_ops:
                self.bursts[operation] = (self.rng.randint(0, self.burst), fault)
        else:
            return None
        self.injected.append(f"{operation}:{fault}")
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

    @proof_settings(30)
    @given(ops=st.lists(operations, min_size=2, max_size=8), seed=st.integers(0, 2**32),
           rate=st.sampled_from([0.15, 0.3, 0.5]))  # fmt: skip
    def run(ops: list[tuple[str, str, int]], seed: int, rate: float) -> None:
        counter[0] += 1
        clean, faulty = f"clean-{counter[0]}-{fresh_table.program}", f"twin-{counter[0]}-{fresh_table.program}"
        for program in (clean, faulty):
            assert api.call("PUT", f"/v1/programs/{program}", DEFAULT, at=NOW).status == 201
        sent: list[Any] = []
        hook = RandomFaults(faulty, seed, rate)
        for n, op in enumerate(START + ops):
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


# --- jobs under faults --------------------------------------------------------------------


def _program_items(dynamo: Any, table: str, program: str) -> list[str]:
    """Every item of ``program``, its id masked (without the per-invocation ``attempt_id`` and
    the request hash, which the id is part of)."""
    items = []
    for item in table_items(dynamo, table):
        if item["pk"]["S"] == f"PROGRAM#{program}" or item["pk"]["S"].startswith(f"PROGRAM#{program}#"):
            item.pop("attempt_id", None)
            item.pop("request_hash", None)  # a hash of the request, program id included
            items.append(json.dumps(item, sort_keys=True).replace(program, "<p>"))
    return sorted(items)


def _published(path: Path, program: str) -> dict[str, Any]:
    """The events published for ``program`` by id, its id masked; a repeat must be identical."""
    by_id: dict[str, Any] = {}
    for event in published(path, program):
        masked = json.loads(json.dumps(event).replace(program, "<p>"))
        assert by_id.setdefault(masked["id"], masked) == masked, masked["id"]
    return by_id


@pytest.mark.parametrize("job", sorted(JOBS))
def test_a_job_meeting_random_faults_and_rerun_until_done_ends_as_a_clean_run(
    fresh_table: Fresh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job: str
) -> None:
    import boto3

    from shared.errors import Busy

    api, (at, _earns) = fresh_table.api, JOBS[job]
    dynamo = boto3.client("dynamodb", endpoint_url=api.endpoint)
    monkeypatch.setenv("JOB_PAGE_SIZE", "3")  # several pages, each drained on its own
    clean = seed_due_members(api, job)
    with events_to(tmp_path / "clean.jsonl") as clean_file:
        (report,) = run(api, job, clean, at)
    assert report["changed"] > 0 and report["published"] > 0, report
    expected = (job_state(api, clean), _published(clean_file, clean), _program_items(dynamo, api.table_name, clean))
    counter, outcomes = [0], Counter()

    @proof_settings(3)
    @given(seed=st.integers(0, 2**32), rate=st.sampled_from([0.2, 0.1]))
    def faulty_run(seed: int, rate: float) -> None:
        counter[0] += 1
        program = seed_due_members(api, job)
        # the program's id is in every request of its run: keys, due-index partitions, outbox
        # member writes and outbox deletes meet faults that outlast botocore's retries
        hook = RandomFaults(program, seed, rate, program, 6, frozenset({"TransactWriteItems", "BatchWriteItem"}))
        runs: list[str] = []
        with events_to(tmp_path / f"faulty-{counter[0]}.jsonl") as events_file, before_send(hook):
            while True:  # the next scheduled run (or the Lambda's retry) runs it again
                try:
                    (report,) = run(api, job, program, at)
                except Busy:  # a fault outlasted botocore's retries: the run dies, nothing half done
                    runs.append("died")
                else:
                    runs.append(f"failed {report['failed']}" if report["failed"] else "done")
                    if not report["failed"]:
                        break  # members a fault kept from their write stay due for the next run
                hook.on = len(runs) < 8  # DynamoDB recovers in the end
        note(f"runs {runs}, faults {hook.injected}")
        outcomes.update(runs)
        got = (job_state(api, program), _published(events_file, program))
        assert got == expected[:2]
        assert _program_items(dynamo, api.table_name, program) == expected[2]

    faulty_run()
    # the faults did their work: some runs died, some left members for the next run
    assert outcomes["died"] > 0 and sum(n for k, n in outcomes.items() if k.startswith("failed")) > 0, (
        "breadth, not correctness: every run ended as the clean run, but the faults never made both a "
        "run die and a member fail. A PROOFS_RANDOM=1 run can miss one; rerun it or raise PROOFS_SCALE.",
        outcomes,
    )
