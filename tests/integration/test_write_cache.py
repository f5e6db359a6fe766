"""A member write skips its read when this container last read or wrote the member
(``shared/write_cache.py``): one DynamoDB request on the happy path, and every assumption the
plan made from the cached state is checked by that request's transaction.

Each "other container" below is simulated by putting an older state back into the cache (what
a container that has not seen the latest write holds) or by clearing it.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared import write_cache
from tests.integration.conftest import NOW, Api, ledger_sum, order
from tests.integration.dynamo_hooks import before_send, operation_of
from tests.integration.jobs import new_program


@contextmanager
def requests() -> Iterator[Counter[str]]:
    """DynamoDB requests the engine sends, by operation."""
    counted: Counter[str] = Counter()

    def count(request: Any, **_kwargs: Any) -> None:
        counted[operation_of(request)] += 1

    with before_send(count, "count-requests"):
        yield counted


def _order(api: Api, program: str, member: str, key: str, amount: str) -> Any:
    return api.call("POST", f"/v1/programs/{program}/members/{member}/events", order(key, amount), at=NOW)


def _redeem(api: Api, program: str, member: str, key: str, points: int) -> Any:
    body = {"redemption_id": key, "points": points}
    return api.call("POST", f"/v1/programs/{program}/members/{member}/redemptions", body, at=NOW)


def test_a_members_next_write_in_the_same_container_is_one_request(api: Api, member_id: str) -> None:
    write_cache.clear()
    with requests() as first:
        assert _order(api, "default", member_id, f"{member_id}.o1", "100").status == 201
    assert first == {"BatchGetItem": 1, "TransactWriteItems": 1}
    with requests() as earn:
        assert _order(api, "default", member_id, f"{member_id}.o2", "50").status == 201
    with requests() as redeem:
        assert _redeem(api, "default", member_id, f"{member_id}.r1", 30).status == 201
    assert earn == redeem == {"TransactWriteItems": 1}
    assert api.member(member_id).body["points"]["balance"] == 120 == ledger_sum(api, member_id)[0]


def test_a_member_changed_elsewhere_is_read_again_and_nothing_is_lost(api: Api, member_id: str) -> None:
    assert _order(api, "default", member_id, f"{member_id}.o1", "100").status == 201
    stale = write_cache.get("default", member_id)
    assert stale is not None
    assert _order(api, "default", member_id, f"{member_id}.o2", "50").status == 201
    write_cache.put(*stale)  # this container still holds the state before o2
    with requests() as sent:
        reply = _redeem(api, "default", member_id, f"{member_id}.r1", 80)  # planned on 100 points
    assert reply.status == 201, reply.body
    # the transaction refused the stale plan and returned the member as it is now; planned
    # again from that, committed: no read
    assert sent == {"TransactWriteItems": 2}
    snapshot = api.member(member_id).body
    assert snapshot["points"]["balance"] == 70 == ledger_sum(api, member_id)[0]
    assert reply.body["member"]["points"]["balance"] == 70  # the answer is the re-planned one
    assert snapshot["version"] == 3
    entries = api.ledger(member_id, "default", "?limit=10").body["entries"]
    assert [e["entry_id"] for e in entries] == [3, 2, 1]


def _triple_order_points(api: Api, program: str) -> None:
    """A new config version: orders earn 3 points per unit instead of 1."""
    document = api.call("GET", f"/v1/programs/{program}", at=NOW).body["config"]
    changed = copy.deepcopy(document)
    for rule in changed["earning_rules"]:
        if rule["event_type"] == "order_completed":
            rule["points_per_unit"] = "3"
    assert api.call("PUT", f"/v1/programs/{program}", changed, at=NOW).status == 200


def test_a_config_changed_since_it_was_cached_is_read_and_applied(api: Api, member_id: str) -> None:
    program = new_program(api)
    assert _order(api, program, member_id, "o1", "100").status == 201  # 1 point per unit
    assert write_cache.get(program, member_id) is not None
    _triple_order_points(api, program)
    with requests() as sent:
        reply = _order(api, program, member_id, "o2", "10")
    assert reply.status == 201, reply.body
    assert reply.body["points_earned"] == 30 and reply.body["config_version"] == 2
    assert sent == {"TransactWriteItems": 2, "BatchGetItem": 1}  # the config check failed first


def test_a_member_and_config_both_changed_elsewhere_are_read_again(api: Api, member_id: str) -> None:
    """The failed transaction returns the member as it is now, but the config it checked failed
    too: planning from the returned member with the cached config would fail again."""
    program = new_program(api)
    assert _order(api, program, member_id, "o1", "100").status == 201
    stale = write_cache.get(program, member_id)
    assert stale is not None
    assert _order(api, program, member_id, "o2", "10").status == 201
    _triple_order_points(api, program)
    write_cache.put(*stale)  # this container holds the member before o2 and config version 1
    with requests() as sent:
        reply = _order(api, program, member_id, "o3", "10")
    assert reply.status == 201, reply.body
    assert reply.body["points_earned"] == 30 and reply.body["config_version"] == 2
    assert sent == {"TransactWriteItems": 2, "BatchGetItem": 1}
    assert api.call("GET", f"/v1/programs/{program}/members/{member_id}", at=NOW).body["points"]["balance"] == 140


def test_a_replay_the_cached_state_would_refuse_answers_its_first_response(api: Api, member_id: str) -> None:
    assert _order(api, "default", member_id, f"{member_id}.o1", "100").status == 201
    first = _redeem(api, "default", member_id, f"{member_id}.r1", 60)
    assert first.status == 201
    assert _redeem(api, "default", member_id, f"{member_id}.r2", 40).status == 201  # balance 0 now
    with requests() as sent:
        again = _redeem(api, "default", member_id, f"{member_id}.r1", 60)
    # the cached state says "insufficient points"; the read finds the key applied: a replay
    assert (again.status, again.body) == (200, first.body)
    assert sent == {"BatchGetItem": 1}
    assert ledger_sum(api, member_id)[0] == 0


def test_a_cached_replay_of_an_applied_write_is_answered_by_the_transaction(api: Api, member_id: str) -> None:
    first = _order(api, "default", member_id, f"{member_id}.o1", "100")
    with requests() as sent:
        again = _order(api, "default", member_id, f"{member_id}.o1", "100")
    assert (again.status, again.body) == (200, first.body)
    assert sent == {"TransactWriteItems": 1}  # refused on the request record, which it returned
    conflict = _order(api, "default", member_id, f"{member_id}.o1", "101")
    assert (conflict.status, conflict.body["error"]["code"]) == (409, "IDEMPOTENCY_CONFLICT")
    assert api.member(member_id).body["version"] == 1


def test_an_order_reported_twice_is_refused_with_a_warm_cache(api: Api, member_id: str) -> None:
    assert _order(api, "default", member_id, f"{member_id}.o1", "100").status == 201
    body = order(f"{member_id}.o1-again", "100")
    body["attributes"]["order_id"] = f"order-{member_id}.o1"
    reply = api.call("POST", f"/v1/programs/default/members/{member_id}/events", body, at=NOW)
    assert (reply.status, reply.body["error"]["code"]) == (409, "ORDER_ALREADY_REPORTED")
    assert api.member(member_id).body["version"] == 1
