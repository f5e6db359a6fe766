"""Regression tests for the defects a hostile client found (money, time, isolation, rounding),
each reproduced through the API on DynamoDB Local as the report did. Requests name their keys
and order ids exactly (``call``), so that isolation between members is what is tested.
"""

from __future__ import annotations

import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from local import auth as local_auth
from shared import logic
from shared.api import EventIn, ReversalIn
from tests.integration.conftest import NOW, Api, Reply, direct, ledger_sum, table_items
from tests.integration.jobs import events_to, new_program, run

EVENT: TypeAdapter[Any] = TypeAdapter(EventIn)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class Client:
    """One program's API, with the request time a minute after each write's business time."""

    def __init__(self, api: Api, program: str) -> None:
        self.api, self.program = api, program

    def post(self, member: str, route: str, body: dict[str, Any], when: str = "2026-11-22T02:00:00Z") -> Reply:
        path = f"/v1/programs/{self.program}/members/{member}/{route}"
        return self.api.call("POST", path, body, at=at(when) + timedelta(minutes=1))

    def order(self, member: str, key: str, order_id: str, amount: str, when: str = "2026-11-22T02:00:00Z") -> Reply:
        body = {
            "event_id": key,
            "type": "order_completed",
            "occurred_at": when,
            "attributes": {"order_id": order_id, "settled_amount": amount},
        }
        return self.post(member, "events", body, when)

    def refund(
        self, member: str, key: str, order_id: str, amount: str | None = None, when: str = "2026-11-22T02:00:00Z"
    ) -> Reply:
        attributes: dict[str, Any] = {"order_id": order_id}
        if amount is not None:
            attributes["refund_amount"] = amount
        body = {"event_id": key, "type": "order_refunded", "occurred_at": when, "attributes": attributes}
        return self.post(member, "events", body, when)

    def redeem(self, member: str, key: str, points: int, when: str = "2026-11-22T02:00:00Z") -> Reply:
        return self.post(member, "redemptions", {"redemption_id": key, "points": points}, when)

    def reverse(self, member: str, redemption: str, body: dict[str, Any], when: str = "2026-11-22T02:00:00Z") -> Reply:
        return self.post(member, f"redemptions/{redemption}/reversal", body, when)

    def snapshot(self, member: str, when: str = "2026-11-22T03:00:00Z") -> dict[str, Any]:
        reply = self.api.member(member, program=self.program, at=at(when))
        assert reply.status == 200, reply.body
        return reply.body


def fresh(api: Api, edit: Any = None) -> Client:
    return Client(api, new_program(api, edit))


def names() -> tuple[str, str]:
    run = uuid.uuid4().hex[:8]
    return f"alice-{run}", f"bob-{run}"


# --- 1. a refund and a reversal commute ------------------------------------------------------


def test_refund_then_reversal_does_not_give_back_points_of_a_refunded_order(api: Api) -> None:
    # Given two members who each earn 100 on an order and spend all 100 (default policy: clamp)
    c = fresh(api)
    first, second = names()
    for member in (first, second):
        assert c.order(member, "e1", f"A-{member}", "100").status == 201
        assert c.redeem(member, "r1", 100).status == 201
    # When one has the order refunded, then the redemption reversed; the other the other way round
    refunded = c.refund(first, "e2", f"A-{first}")
    assert refunded.status == 201 and refunded.body["points_forgiven"] == 100
    reversal = c.reverse(first, "r1", {})
    assert reversal.status == 201, reversal.body
    assert c.reverse(second, "r1", {}).status == 201
    assert c.refund(second, "e2", f"A-{second}").status == 201
    # Then both end at 0: the reversal's 100 went to the refund that could not take them
    assert (reversal.body["points_returned"], reversal.body["points_to_refunds"]) == (0, 100)
    for member in (first, second):
        body = c.snapshot(member)
        assert (body["points"]["balance"], body["points"]["available"]) == (0, 0), member
        assert ledger_sum(api, member, c.program) == (0, 0)


def test_a_redemption_made_after_the_refund_is_not_taken_by_it(api: Api) -> None:
    # Given a refund that forgave 100 spent points, then 50 new points redeemed
    c = fresh(api)
    member, _ = names()
    c.order(member, "e1", f"A-{member}", "100")
    c.redeem(member, "r1", 100)
    assert c.refund(member, "e2", f"A-{member}").body["points_forgiven"] == 100
    c.order(member, "e3", f"B-{member}", "50")
    c.redeem(member, "r2", 50)
    # When the later redemption is reversed / Then its points are the member's again
    reversal = c.reverse(member, "r2", {})
    assert (reversal.body["points_returned"], reversal.body["points_to_refunds"]) == (50, 0)
    assert c.snapshot(member)["points"]["balance"] == 50


# --- 2. a backdated spend never draws an expired lot; members never choose business time -----


def test_a_backdated_redemption_cannot_spend_an_expired_lot(api: Api) -> None:
    c = fresh(api)
    member, _ = names()
    # An order dated 2024-05-01: its lot expired at the end of 2025 (Shanghai), unswept
    assert c.order(member, "e1", f"A-{member}", "300", when="2024-05-01T02:00:00Z").status == 201
    now = "2026-11-22T02:00:00Z"
    refused = c.post(
        member, "redemptions", {"redemption_id": "r1", "points": 300, "occurred_at": "2025-06-01T00:00:00Z"}, now
    )
    assert refused.status == 409 and refused.body["error"]["code"] == "INSUFFICIENT_POINTS"
    assert refused.body["error"]["details"][0]["available"] == 0


def test_a_member_cannot_choose_the_business_time_of_its_own_redemption(api: Api, dynamo: Any) -> None:
    member, _ = names()
    api.event(member, {"event_id": "e1", "type": "order_completed", "occurred_at": "2026-11-22T02:00:00Z",
                       "attributes": {"order_id": "o1", "settled_amount": "100"}})  # fmt: skip
    key = bytes(range(64, 96))
    claims = local_auth.member_claims(api.manifest, member, ["default"])
    token = local_auth.mint(key, claims, int(NOW.timestamp()))
    secured = replace(api, auth=local_auth.LocalJwtAuthorizer.from_manifest(api.manifest, key=key))
    before = table_items(dynamo, api.table_name)
    reply = secured.call(
        "POST",
        f"/v1/programs/default/members/{member}/redemptions",
        {"redemption_id": "r1", "points": 10, "occurred_at": "2026-11-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status == 403, reply.body
    assert reply.body["error"]["code"] == "BUSINESS_TIME_NOT_ALLOWED"
    assert reply.body["error"]["details"][0]["field"] == "occurred_at"
    assert table_items(dynamo, api.table_name) == before  # not even a rate-limit token
    # without a business time the member's own redemption goes through
    reply = secured.call(
        "POST",
        f"/v1/programs/default/members/{member}/redemptions",
        {"redemption_id": "r1", "points": 10},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status == 201, reply.body


# --- 3. a refund cannot predate its order, nor move tier dates back ---------------------------


def test_a_refund_dated_before_its_order_is_refused(api: Api) -> None:
    c = fresh(api)
    member, _ = names()
    c.order(member, "e1", f"A-{member}", "10500", when="2026-11-02T02:00:00Z")
    reply = c.refund(member, "e2", f"A-{member}", "1000", when="2020-01-01T00:00:00Z")
    assert reply.status == 422 and reply.body["error"]["details"][0]["field"] == "occurred_at"
    assert c.snapshot(member)["tier"]["code"] == "gold"


def test_a_refund_never_starts_a_lower_tier_before_the_current_one(api: Api) -> None:
    # Gold since 2026-11-02 by a second order; the first order (Silver, 2026-06-01) is refunded
    # with a business time between the two: Silver starts no earlier than Gold did
    c = fresh(api)
    member, _ = names()
    c.order(member, "e1", f"A-{member}", "2500", when="2026-06-01T02:00:00Z")
    c.order(member, "e2", f"B-{member}", "8000", when="2026-11-02T02:00:00Z")
    assert c.snapshot(member)["tier"]["code"] == "gold"
    reply = c.refund(member, "e3", f"A-{member}", when="2026-07-01T00:00:00Z")
    assert reply.status == 201, reply.body
    tier = reply.body["member"]["tier"]
    assert (tier["code"], tier["since"], tier["valid_until"]) == (
        "silver",
        "2026-11-02T02:00:00Z",
        "2027-11-02T02:00:00Z",
    )


# --- 4. client keys are scoped to the member they act on --------------------------------------


def test_two_members_may_use_the_same_redemption_id(api: Api) -> None:
    c = fresh(api)
    alice, bob = names()
    for member in (alice, bob):
        c.order(member, "e1", f"A-{member}", "100")
    first = c.redeem(alice, "checkout-1001", 10)
    second = c.redeem(bob, "checkout-1001", 20)
    assert (first.status, second.status) == (201, 201), second.body
    assert c.snapshot(alice)["points"]["balance"] == 90
    assert c.snapshot(bob)["points"]["balance"] == 80
    # and each replays its own
    assert c.redeem(bob, "checkout-1001", 20).status == 200
    assert c.redeem(alice, "checkout-1001", 20).body["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    # a reversal of Alice's redemption under Bob's id is Bob's own (none): 404
    assert c.reverse(bob, "r-none", {}).status == 404


# --- 5. an order id is unique in its program --------------------------------------------------


def test_the_same_order_id_does_not_earn_for_two_members(api: Api) -> None:
    c = fresh(api)
    alice, bob = names()
    assert c.order(alice, "e1", "order-77", "100").status == 201
    again = c.order(bob, "e1", "order-77", "100")
    assert again.status == 409 and again.body["error"]["code"] == "ORDER_ALREADY_REPORTED"
    assert "e1" not in again.body["error"]["message"]  # Bob's caller learns nothing of Alice's event
    assert api.member(bob, program=c.program).status == 404
    # Bob cannot refund it either
    refund = c.refund(bob, "e2", "order-77")
    assert refund.status == 404 and refund.body["error"]["code"] == "ORDER_NOT_FOUND"
    # a replay for Alice is still a replay
    assert c.order(alice, "e1", "order-77", "100").status == 200


# --- 12. an idle first year downgrades ------------------------------------------------------


def test_an_order_that_attains_gold_is_not_activity_in_its_own_year(api: Api) -> None:
    c = fresh(api)
    member, _ = names()
    c.order(member, "e1", f"A-{member}", "16000", when="2026-01-10T02:00:00Z")
    assert c.snapshot(member, "2026-02-01T00:00:00Z")["tier"]["to_keep"]["qualifying_activity_needed"] is True
    with tempfile.TemporaryDirectory() as folder, events_to(Path(folder) / "events.jsonl"):
        run(api, "tier", c.program, "2027-01-11T00:10:00+08:00")
    tier = c.snapshot(member, "2027-01-12T00:00:00Z")["tier"]
    assert tier["code"] == "bronze"


# --- 15. PROGRAM_NOT_FOUND first -----------------------------------------------------------


def test_every_read_of_a_missing_program_says_program_not_found(api: Api) -> None:
    member, _ = names()
    for path in (f"/members/{member}", f"/members/{member}/ledger", f"/members/{member}/ledger?cursor=djE6NQ"):
        reply = api.call("GET", f"/v1/programs/nope-{member}{path}")
        assert (reply.status, reply.body["error"]["code"]) == (404, "PROGRAM_NOT_FOUND"), path
    reply = api.call("POST", f"/v1/programs/nope-{member}/members/{member}/redemptions/r1/reversal", {})
    assert (reply.status, reply.body["error"]["code"]) == (404, "PROGRAM_NOT_FOUND")


# --- 17. an order never keeps more than its kept amount earns --------------------------------


def test_a_refund_leaves_no_point_the_kept_amount_would_not_earn(api: Api) -> None:
    def per_thousand(config: dict[str, Any]) -> None:
        rule = next(r for r in config["earning_rules"] if r["event_type"] == "order_completed")
        rule["points_per_unit"] = "0.001"

    c = fresh(api, per_thousand)
    member, _ = names()
    assert c.order(member, "e1", f"A-{member}", "1999").body["points_earned"] == 1
    reply = c.refund(member, "e2", f"A-{member}", "1000")
    assert reply.body["points_reversed"] == 1
    assert c.snapshot(member)["points"]["balance"] == 0


# --- 18. partial reversals --------------------------------------------------------------------


def test_a_redemption_is_given_back_in_parts_each_with_its_own_key(api: Api) -> None:
    c = fresh(api)
    member, _ = names()
    c.order(member, "e1", f"A-{member}", "150")
    c.redeem(member, "r1", 150)
    part = c.reverse(member, "r1", {"reversal_id": "v1", "points": 75})
    assert part.status == 201, part.body
    assert (part.body["points_returned"], part.body["points_left"]) == (75, 75)
    assert c.reverse(member, "r1", {"reversal_id": "v1", "points": 75}).status == 200  # replay
    conflict = c.reverse(member, "r1", {"reversal_id": "v1", "points": 74})
    assert conflict.body["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    too_much = c.reverse(member, "r1", {"reversal_id": "v2", "points": 76})
    assert (too_much.status, too_much.body["error"]["code"]) == (409, "REVERSAL_EXCEEDS_REDEMPTION")
    rest = c.reverse(member, "r1", {"reversal_id": "v3"})
    assert (rest.body["points_returned"], rest.body["points_left"]) == (75, 0)
    nothing = c.reverse(member, "r1", {"reversal_id": "v4", "points": 1})
    assert nothing.body["error"]["code"] == "REVERSAL_EXCEEDS_REDEMPTION"
    assert c.snapshot(member)["points"]["balance"] == 150
    entries = api.ledger(member, c.program).body["entries"]
    assert [(e["kind"], e.get("reversal_id"), e.get("redemption_id")) for e in entries[:2]] == [
        ("reversal", "v3", "r1"),
        ("reversal", "v1", "r1"),
    ]
    assert ledger_sum(api, member, c.program) == (150, 150)


# --- races on the new rules --------------------------------------------------------------------


def test_concurrent_partial_reversals_never_give_back_more_than_was_redeemed(api: Api) -> None:
    # Given a redemption of 100 points
    c = fresh(api)
    member, _ = names()
    c.order(member, "e1", f"A-{member}", "100")
    c.redeem(member, "r1", 100)
    # When 8 containers each give back 20 of it, each under its own reversal_id
    requests = [ReversalIn(reversal_id=f"v{n}", points=20) for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda r: direct(logic.reverse_redemption, c.program, member, "r1", r, NOW), requests))
    # Then exactly 5 apply and 3 find nothing left; the member has its 100 points back, once
    statuses = sorted(status for status, _ in replies)
    assert statuses == [201] * 5 + [409] * 3, replies
    assert {body["error"]["code"] for status, body in replies if status == 409} == {"REVERSAL_EXCEEDS_REDEMPTION"}
    assert sorted(body["points_left"] for status, body in replies if status == 201) == [0, 20, 40, 60, 80]
    assert c.snapshot(member)["points"]["balance"] == 100
    assert ledger_sum(api, member, c.program) == (100, 100)
    # and each applied reversal replays
    for request in requests:
        status, _ = direct(logic.reverse_redemption, c.program, member, "r1", request, NOW)
        assert status in (200, 409)


def test_two_members_racing_one_order_id_earn_it_once(api: Api) -> None:
    c = fresh(api)
    members = [f"racer{n}-{uuid.uuid4().hex[:6]}" for n in range(6)]
    event = EVENT.validate_python(
        {
            "event_id": "e1",
            "type": "order_completed",
            "occurred_at": "2026-11-22T02:00:00Z",
            "attributes": {"order_id": "shared-order", "settled_amount": "100"},
        }
    )
    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(lambda m: direct(logic.report_event, c.program, m, event, NOW), members))
    statuses = sorted(status for status, _ in replies)
    assert statuses == [201] + [409] * 5, replies
    assert {body["error"]["code"] for status, body in replies if status == 409} == {"ORDER_ALREADY_REPORTED"}
    balances = [api.member(m, program=c.program).body.get("points", {}).get("balance", 0) for m in members]
    assert sorted(balances) == [0] * 5 + [100]
