"""The core ledger through the HTTP API on DynamoDB Local: rules, replays, conflicts, reads."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.conftest import NOW, Api, ledger_sum, order


def test_new_user_walkthrough(api: Api, member_id: str) -> None:
    # Given the default program, when a member completes an order of 199.90 CNY
    first = api.event(member_id, order("o-1", "199.90"))
    # Then it earns 199 points and 199 growth and is Bronze
    assert first.status == 201
    assert (first.body["points_earned"], first.body["growth_earned"]) == (199, 199)
    assert first.body["member"]["tier"]["code"] == "bronze"
    assert first.body["tier_change"] == {"from": "registered", "to": "bronze", "reason": "upgrade"}

    # A first login the same local day gives 5 growth, a second nothing
    login = {"type": "login", "occurred_at": "2026-11-22T03:00:00Z"}
    assert api.event(member_id, {"event_id": "l-1", **login}).body["growth_earned"] == 5
    second = api.event(member_id, {"event_id": "l-2", **login})
    assert second.status == 201
    assert (second.body["points_earned"], second.body["growth_earned"]) == (0, 0)

    # Redeeming 150 leaves 49; redeeming 50 is a 409 that changes nothing
    spent = api.redeem(member_id, {"redemption_id": "r-1", "points": 150})
    assert spent.status == 201
    assert spent.body["member"]["points"]["available"] == 49
    before = api.member(member_id).body
    refused = api.redeem(member_id, {"redemption_id": "r-2", "points": 50})
    assert refused.status == 409
    assert refused.body["error"]["code"] == "INSUFFICIENT_POINTS"
    assert api.member(member_id).body == before

    # Replays return the first bodies
    replay = api.event(member_id, order("o-1", "199.90"))
    assert replay.status == 200
    assert replay.raw == first.raw
    replay_spend = api.redeem(member_id, {"redemption_id": "r-1", "points": 150})
    assert (replay_spend.status, replay_spend.raw) == (200, spent.raw)

    # Garbage gets a 422 naming the field
    garbage = api.event(member_id, order("o-2", "lots"))
    assert garbage.status == 422
    assert [d["field"] for d in garbage.body["error"]["details"]] == ["attributes.settled_amount"]

    # And the ledger adds up to the snapshot
    snapshot = api.member(member_id).body
    assert ledger_sum(api, member_id) == (snapshot["points"]["balance"], snapshot["growth"])
    assert snapshot["points"]["balance"] == 49
    assert snapshot["growth"] == 204


def test_snapshot_lists_every_upcoming_expiry(api: Api, member_id: str) -> None:
    # Given points earned in two program-local years (Shanghai), on both sides of new year
    api.event(member_id, order("y1", "10", at="2025-12-31T15:59:00Z"), at=datetime(2026, 1, 2, tzinfo=UTC))
    api.event(member_id, order("y2", "20", at="2025-12-31T16:00:00Z"), at=datetime(2026, 1, 2, tzinfo=UTC))
    # When the snapshot is read
    snapshot = api.member(member_id, at=datetime(2026, 1, 2, tzinfo=UTC)).body
    # Then both expiries are listed, soonest first
    assert snapshot["points"]["expiring"] == [
        {"points": 10, "expires_at": "2026-12-31T16:00:00Z"},
        {"points": 20, "expires_at": "2027-12-31T16:00:00Z"},
    ]
    # And a spend draws from the soonest-expiring lot first
    spent = api.redeem(member_id, {"redemption_id": "r", "points": 15}, at=datetime(2026, 1, 2, tzinfo=UTC))
    assert spent.body["drawn"] == [
        {"points": 10, "expires_at": "2026-12-31T16:00:00Z"},
        {"points": 5, "expires_at": "2027-12-31T16:00:00Z"},
    ]
    # Past the first expiry (not yet swept) those points are no longer available
    later = api.member(member_id, at=datetime(2027, 1, 5, tzinfo=UTC)).body
    assert later["points"]["available"] == 15
    assert later["points"]["balance"] == 15


def test_monthly_bonus_once_per_local_month(api: Api, member_id: str) -> None:
    # Given three orders in November (Shanghai time), the third earns the monthly bonus
    growth = [api.event(member_id, order(f"m{i}", "1", at=f"2026-11-0{i}T02:00:00Z")).body for i in (1, 2, 3)]
    assert [b["growth_earned"] for b in growth] == [1, 1, 51]
    assert growth[2]["awards"][1]["rule"] == "monthly_bonus"
    # A fourth order in the month earns no second bonus
    assert api.event(member_id, order("m4", "1", at="2026-11-04T02:00:00Z")).body["growth_earned"] == 1


def test_kol_coefficient_from_member_attributes(api: Api, member_id: str) -> None:
    # Given a member reported as a creator account, an order's growth is accelerated, points are not
    body = order("k1", "100.00")
    body["member_attributes"] = {"account_type": "kol"}
    reply = api.event(member_id, body)
    assert (reply.body["points_earned"], reply.body["growth_earned"]) == (100, 150)
    # The attribute is kept on the member for later orders
    assert api.event(member_id, order("k2", "10.00")).body["growth_earned"] == 15


def test_reviews_and_photo_reviews(api: Api, member_id: str) -> None:
    def review(event_id: str, kind: str, price: str, rank: int | None = None) -> dict:
        attributes: dict = {"item_id": "sku-1", "item_price": price}
        if rank is not None:
            attributes["rank"] = rank
        return {"event_id": event_id, "type": kind, "occurred_at": "2026-11-22T01:00:00Z", "attributes": attributes}

    assert api.event(member_id, review("r1", "review_approved", "20.00")).body["growth_earned"] == 20
    assert api.event(member_id, review("r2", "review_approved", "19.99")).body["growth_earned"] == 0
    assert api.event(member_id, review("p1", "photo_review_approved", "99", rank=10)).body["growth_earned"] == 20
    assert api.event(member_id, review("p2", "photo_review_approved", "99", rank=11)).body["growth_earned"] == 0
    # Events that earn nothing are still recorded in the ledger
    assert len(api.ledger(member_id).body["entries"]) == 4


def test_event_replay_with_different_body_is_a_conflict(api: Api, member_id: str) -> None:
    api.event(member_id, order(f"{member_id}-e1", "10"), scoped=False)
    conflict = api.event(member_id, order(f"{member_id}-e1", "11"), scoped=False)
    assert conflict.status == 409
    assert conflict.body["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    # The same event_id for another member is the same key with another body
    other = api.event(member_id + "x", order(f"{member_id}-e1", "10"), scoped=False)
    assert other.status == 409
    assert api.member(member_id).body["points"]["balance"] == 10


def test_redemption_replay_and_conflict(api: Api, member_id: str) -> None:
    api.event(member_id, order("e1", "100"))
    first = api.redeem(member_id, {"redemption_id": "r1", "points": 30})
    assert first.status == 201
    # A replay after the balance changed still returns the first response
    api.redeem(member_id, {"redemption_id": "r2", "points": 70})
    replay = api.redeem(member_id, {"redemption_id": "r1", "points": 30})
    assert (replay.status, replay.raw) == (200, first.raw)
    conflict = api.redeem(member_id, {"redemption_id": "r1", "points": 31})
    assert (conflict.status, conflict.body["error"]["code"]) == (409, "IDEMPOTENCY_CONFLICT")
    assert api.member(member_id).body["points"]["balance"] == 0


def test_redeeming_for_unknown_member_or_program(api: Api, member_id: str) -> None:
    missing = api.redeem(member_id, {"redemption_id": "r1", "points": 1})
    assert (missing.status, missing.body["error"]["code"]) == (404, "MEMBER_NOT_FOUND")
    nowhere = api.event(member_id, order("e1", "1"), program="no-such-program")
    assert (nowhere.status, nowhere.body["error"]["code"]) == (404, "PROGRAM_NOT_FOUND")
    assert api.member(member_id).status == 404
    assert api.ledger(member_id).status == 404


def test_ledger_pages_newest_first(api: Api, member_id: str) -> None:
    for i in range(5):
        api.event(member_id, order(f"e{i}", str(i + 1)))
    first = api.ledger(member_id, query="?limit=2").body
    assert [e["event_id"].split(".")[-1] for e in first["entries"]] == ["e4", "e3"]
    second = api.ledger(member_id, query=f"?limit=2&cursor={first['next_cursor']}").body
    assert [e["event_id"].split(".")[-1] for e in second["entries"]] == ["e2", "e1"]
    third = api.ledger(member_id, query=f"?limit=2&cursor={second['next_cursor']}").body
    assert [e["event_id"].split(".")[-1] for e in third["entries"]] == ["e0"]
    assert third["next_cursor"] is None
    assert first["entries"][0]["balance_after"] == 15


def test_business_time_drives_calendar_rules(api: Api, member_id: str) -> None:
    # Logins at 23:30 and 00:30 Shanghai time are two local days, whatever the request time
    late = api.event(member_id, {"event_id": "a", "type": "login", "occurred_at": "2026-11-21T15:30:00Z"})
    early = api.event(member_id, {"event_id": "b", "type": "login", "occurred_at": "2026-11-21T16:30:00Z"})
    assert (late.body["growth_earned"], early.body["growth_earned"]) == (5, 5)
    # An event further in the future than the allowed skew is refused
    future = api.event(member_id, order("f", "1", at="2026-11-22T04:06:00Z"), at=NOW)
    assert future.status == 422
    assert future.body["error"]["details"][0]["field"] == "occurred_at"
