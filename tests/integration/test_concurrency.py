"""Races and faults: concurrent writers on DynamoDB Local, injected conflicts and throttling."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from pydantic import TypeAdapter

from shared import logic
from shared.api import EventIn, RedemptionIn
from tests.integration.conftest import NOW, Api, direct, ledger_sum, order, table_items
from tests.integration.dynamo_hooks import before_send, error_response, operation_of

EVENT: TypeAdapter[Any] = TypeAdapter(EventIn)


def test_twenty_concurrent_redemptions_never_overspend(api: Api, member_id: str) -> None:
    # Given a member with 100 points
    assert api.event(member_id, order("seed", "100")).status == 201

    # When 20 redemptions of 10 points race
    def redeem(i: int) -> int:
        request = RedemptionIn(redemption_id=f"{member_id}.r{i}", points=10)
        return direct(logic.redeem_points, "default", member_id, request, NOW)[0]

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(redeem, range(20)))

    # Then exactly 10 succeed, the others are refused, and the balance ends at 0
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 10, statuses
    snapshot = api.member(member_id).body
    assert snapshot["points"]["balance"] == 0
    assert ledger_sum(api, member_id) == (0, snapshot["growth"])


def test_concurrent_replays_apply_once(api: Api, member_id: str) -> None:
    event = EVENT.validate_python(order(f"{member_id}.same", "42"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: direct(logic.report_event, "default", member_id, event, NOW), range(8)))
    assert sorted(status for status, _ in replies) == [200] * 7 + [201]
    assert len({json.dumps(body, sort_keys=True) for _, body in replies}) == 1
    assert api.member(member_id).body["points"]["balance"] == 42


def test_random_concurrent_mix_keeps_ledger_equal_to_balance(api: Api, member_id: str) -> None:
    # Given several members receiving a random mix of earns and spends from many threads
    rng = random.Random(20261122)
    members = [f"{member_id}-{n}" for n in range(4)]
    operations: list[tuple[str, str, dict[str, Any]]] = []
    for i in range(120):
        who = rng.choice(members)
        if rng.random() < 0.55:
            amount = f"{rng.randint(0, 300)}.{rng.randint(0, 99):02d}"
            operations.append(("event", who, order(f"e{i}", amount)))
        else:
            operations.append(("redeem", who, {"redemption_id": f"r{i}", "points": rng.randint(1, 150)}))

    def run(op: tuple[str, str, dict[str, Any]]) -> int:
        kind, who, body = op
        if kind == "event":
            event = EVENT.validate_python({**body, "event_id": f"{who}.{body['event_id']}"})
            return direct(logic.report_event, "default", who, event, NOW)[0]
        request = RedemptionIn(redemption_id=f"{who}.{body['redemption_id']}", points=body["points"])
        return direct(logic.redeem_points, "default", who, request, NOW)[0]

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(run, operations))

    # Then nothing failed unexpectedly, and every member's ledger adds up to its snapshot
    assert set(statuses) <= {201, 404, 409}
    for who in members:
        snapshot = api.member(who)
        if snapshot.status == 404:
            continue
        body = snapshot.body
        assert body["points"]["balance"] >= 0
        assert ledger_sum(api, who) == (body["points"]["balance"], body["growth"])
        assert sum(e["points"] for e in body["points"]["expiring"]) == body["points"]["balance"]


@contextmanager
def injected(operation: str, error_code: str, times: int, reasons: list[dict] | None = None) -> Iterator[list[int]]:
    """Answer the next ``times`` sends of ``operation`` with ``error_code``, as DynamoDB would.

    Hooked at ``before-send``, below botocore's retry loop, so its retries see the error too.
    Yields a one-item list counting the sends answered.
    """
    calls = [0]

    def hook(request: Any, **_kwargs: Any) -> Any:
        if operation_of(request) != operation or calls[0] >= times:
            return None
        calls[0] += 1
        return error_response(request, error_code, reasons=reasons)

    with before_send(hook, f"inject-{operation}"):
        yield calls


CONFLICT = [{"Code": "None"}, {"Code": "None"}, {"Code": "TransactionConflict"}]
"""Cancellation reasons of a conflict on the member item (the third item of a write)."""


def test_transaction_conflicts_are_retried(api: Api, member_id: str) -> None:
    api.event(member_id, order("seed", "50"))
    # DynamoDB Local serialises transactions and never reports TransactionConflict: inject two
    with injected("TransactWriteItems", "TransactionCanceledException", 2, CONFLICT) as calls:
        reply = api.redeem(member_id, {"redemption_id": "r", "points": 20})
    assert calls[0] == 2
    assert reply.status == 201
    assert api.member(member_id).body["points"]["balance"] == 30
    assert ledger_sum(api, member_id)[0] == 30


def test_persistent_throttling_is_503_and_writes_nothing(api: Api, dynamo: Any, member_id: str) -> None:
    api.event(member_id, order("seed", "50"))
    before = table_items(dynamo, api.table_name)
    with injected("TransactWriteItems", "ThrottlingException", 100) as calls:
        reply = api.redeem(member_id, {"redemption_id": "r", "points": 20})
    # botocore's standard retries ran (1 + 3 attempts), then the client is told to retry later
    assert calls[0] == 4
    assert reply.status == 503
    assert reply.body["error"]["code"] == "BUSY"
    assert table_items(dynamo, api.table_name) == before
    # The same key then goes through once the table recovers
    assert api.redeem(member_id, {"redemption_id": "r", "points": 20}).status == 201


def test_a_resent_transaction_that_had_committed_answers_201_once(api: Api, member_id: str) -> None:
    """The first send commits but its answer is lost (a 500): botocore resends the same
    transaction, which meets our own request record. The client still gets its 201, once."""
    from botocore.httpsession import URLLib3Session

    api.event(member_id, order("seed", "50"))
    sends = [0]

    def lose_first_answer(request: Any, **_kwargs: Any) -> Any:
        if operation_of(request) != "TransactWriteItems":
            return None
        sends[0] += 1
        if sends[0] > 1:
            return None
        URLLib3Session().send(request)  # the write reaches the table...
        return error_response(request, "InternalServerError", 500)  # ...but its answer never reaches us

    with before_send(lose_first_answer, "lose-answer"):
        reply = api.redeem(member_id, {"redemption_id": "r", "points": 20})
    assert sends[0] == 2
    assert reply.status == 201
    assert reply.body["member"]["points"]["balance"] == 30
    assert ledger_sum(api, member_id)[0] == 30
    # A later replay of the key is a replay
    assert api.redeem(member_id, {"redemption_id": "r", "points": 20}).status == 200


def test_endless_conflicts_end_in_503_after_the_write_budget(
    api: Api, dynamo: Any, member_id: str, monkeypatch: Any
) -> None:
    api.event(member_id, order("seed", "50"))
    before = table_items(dynamo, api.table_name)
    monkeypatch.setattr(logic, "WRITE_BUDGET_SECONDS", 0.3)
    with injected("TransactWriteItems", "TransactionCanceledException", 10_000, CONFLICT) as calls:
        reply = api.redeem(member_id, {"redemption_id": "r", "points": 20})
    assert calls[0] > 1
    assert (reply.status, reply.body["error"]["code"]) == (503, "BUSY")
    assert table_items(dynamo, api.table_name) == before


def test_a_replay_that_sees_the_order_before_the_request_record_is_still_a_replay(api: Api, member_id: str) -> None:
    # BatchGetItem reads each item on its own: a replay racing the first write can see the
    # order's record (committed) without the request record. It must answer 200, not 409.
    from shared import store, write_cache

    event = EVENT.validate_python(order(f"{member_id}.torn", "42"))
    assert direct(logic.report_event, "default", member_id, event, NOW)[0] == 201
    real = store.load_write_context
    calls = [0]

    def torn(*args: Any, **kwargs: Any) -> Any:
        context = real(*args, **kwargs)
        calls[0] += 1
        return replace(context, previous=None) if calls[0] == 1 else context

    store.load_write_context = torn  # type: ignore[assignment]
    write_cache.clear()  # another container: it reads before it writes
    try:
        status, body = direct(logic.report_event, "default", member_id, event, NOW)
    finally:
        store.load_write_context = real  # type: ignore[assignment]
    # the torn read happened, and the answer is the first one's (the retry may read again, or
    # commit from the member it just read: its transaction finds the request record)
    assert (status, calls[0] >= 1) == (200, True), body
    assert api.member(member_id).body["points"]["balance"] == 42
