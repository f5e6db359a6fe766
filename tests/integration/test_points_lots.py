"""Points lots end to end on DynamoDB Local: expiry, the sweep and its reminders, refunds,
pending points and redemption reversals. The ledger-sum invariant is checked after each scenario.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import logic
from shared.api import RedemptionIn
from tests.integration.conftest import Api, Reply, direct, ledger_sum, order
from tests.integration.jobs import FakeContext, Killed, before_send, events_to, new_program, published, run


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def later(text: str) -> datetime:
    return at(text) + timedelta(minutes=1)


def earn(api: Api, program: str, member: str, key: str, amount: str, when: str) -> Reply:
    reply = api.event(member, order(key, amount, at=when), program=program, at=later(when))
    assert reply.status == 201, reply.body
    return reply


def refund(api: Api, program: str, member: str, key: str, order_key: str, when: str, amount: str | None) -> Reply:
    """Refund the order ``earn(..., order_key, ...)`` reported (``order()`` names it order-<key>)."""
    attributes: dict[str, Any] = {"order_id": f"order-{order_key}"}
    if amount is not None:
        attributes["refund_amount"] = amount
    body = {"event_id": key, "type": "order_refunded", "occurred_at": when, "attributes": attributes}
    return api.event(member, body, program=program, at=later(when))


def redeem(api: Api, program: str, member: str, key: str, points: int, when: str) -> Reply:
    body = {"redemption_id": key, "points": points, "occurred_at": when}
    return api.redeem(member, body, program=program, at=later(when))


def reverse(api: Api, program: str, member: str, key: str, when: str) -> Reply:
    path = f"/v1/programs/{program}/members/{member}/redemptions/{member}.{key}/reversal"
    return api.call("POST", path, {"occurred_at": when}, at=later(when))


def snapshot(api: Api, program: str, member: str, when: str) -> dict[str, Any]:
    reply = api.member(member, program=program, at=at(when))
    assert reply.status == 200, reply.body
    return reply.body


def assert_ledger_matches(api: Api, program: str, member: str, when: str = "2030-01-01T00:00:00Z") -> dict[str, Any]:
    body = snapshot(api, program, member, when)
    assert ledger_sum(api, member, program) == (body["points"]["balance"], body["growth"])
    return body


def policy(kind: str, pending_days: int = 0) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["refunds"] = {"negative_balance": kind}
        config["earning_rules"][0]["pending_days"] = pending_days

    return edit


# --- expiry ---------------------------------------------------------------------------


def test_a_minute_apart_across_new_year_in_shanghai_expire_a_year_apart(api: Api) -> None:
    program = new_program(api)
    late = earn(api, program, "ny", "a", "100", "2025-12-31T15:59:00Z").body  # 23:59 Shanghai
    early = earn(api, program, "ny", "b", "200", "2025-12-31T16:00:00Z").body  # 00:00 Shanghai
    assert late["lot"]["expires_at"] == "2026-12-31T16:00:00Z"  # end of 2026, Shanghai time
    assert early["lot"]["expires_at"] == "2027-12-31T16:00:00Z"  # end of 2027
    body = snapshot(api, program, "ny", "2026-06-01T00:00:00Z")
    assert body["points"]["expiring"] == [
        {"points": 100, "expires_at": "2026-12-31T16:00:00Z"},
        {"points": 200, "expires_at": "2027-12-31T16:00:00Z"},
    ]
    # A spend draws from the older-expiring lot first
    spent = redeem(api, program, "ny", "r1", 120, "2026-06-01T00:00:00Z").body
    assert spent["drawn"] == [
        {"points": 100, "expires_at": "2026-12-31T16:00:00Z"},
        {"points": 20, "expires_at": "2027-12-31T16:00:00Z"},
    ]
    assert_ledger_matches(api, program, "ny")


def _seed_expiring(api: Api, program: str, members: list[str]) -> None:
    for n, member in enumerate(members):
        earn(api, program, member, "old", str(100 + n), "2025-06-01T02:00:00Z")  # expires 2026-12-31T16:00Z
        earn(api, program, member, "new", "50", "2026-03-01T02:00:00Z")  # expires 2027-12-31T16:00Z


SWEEP_TIME = "2027-01-01T00:05:00+08:00"
MEMBERS = [f"x{n:02d}" for n in range(10)]


def _state(api: Api, program: str, members: list[str]) -> dict[str, Any]:
    out = {}
    for member in members:
        body = snapshot(api, program, member, "2027-01-02T00:00:00Z")
        ledger = api.ledger(member, program, "?limit=100").body["entries"]
        out[member] = (body["points"], [(e["kind"], e["points"], e.get("expiry_id")) for e in ledger])
    return out


def _events(path: Path, program: str, kind: str) -> list[tuple[Any, ...]]:
    return sorted(
        (e["detail"]["member_id"], e["detail"]["points"], e["detail"].get("expires_at"), e["detail"].get("days_before"))
        for e in published(path, program)
        if e["detail-type"] == kind
    )


def test_the_sweep_expires_exactly_what_is_due_and_a_second_run_does_nothing(api: Api, tmp_path: Path) -> None:
    program = new_program(api)
    _seed_expiring(api, program, MEMBERS)
    with events_to(tmp_path / "events.jsonl") as events_file:
        (first,) = run(api, "expiry", program, SWEEP_TIME)
        after_first = _state(api, program, MEMBERS)
        (second,) = run(api, "expiry", program, SWEEP_TIME)
    assert (first["status"], first["changed"]) == ("done", 10)
    assert (second["changed"], second["published"]) == (0, 0)
    assert _state(api, program, MEMBERS) == after_first
    expired = _events(events_file, program, "points.expired")
    assert expired == sorted((m, 100 + n, None, None) for n, m in enumerate(MEMBERS))
    for n, member in enumerate(MEMBERS):
        body = assert_ledger_matches(api, program, member)
        assert body["points"]["balance"] == 50
        entry = api.ledger(member, program).body["entries"][0]
        assert (entry["kind"], entry["points"], entry["lots"]) == (
            "expire",
            -(100 + n),
            [{"points": 100 + n, "expires_at": "2026-12-31T16:00:00Z"}],
        )


def test_a_sweep_killed_half_way_and_rerun_ends_as_one_clean_run(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, killed = new_program(api), new_program(api)
    _seed_expiring(api, clean, MEMBERS)
    _seed_expiring(api, killed, MEMBERS)
    monkeypatch.setenv("JOB_PAGE_SIZE", "2")
    with events_to(tmp_path / "clean.jsonl") as clean_events:
        run(api, "expiry", clean, SWEEP_TIME)
    with events_to(tmp_path / "killed.jsonl") as killed_events:

        def die(n: int, _body: bytes) -> None:
            if n == 4:
                raise Killed()

        with before_send("TransactWriteItems", die), pytest.raises(Killed):
            run(api, "expiry", killed, SWEEP_TIME)
        # and once more through continuations, a few pages per invocation
        reports = run(api, "expiry", killed, SWEEP_TIME, context=lambda: FakeContext(pages=12))
        assert reports[-1]["status"] == "done"
    assert _state(api, killed, MEMBERS) == _state(api, clean, MEMBERS)
    assert _events(killed_events, killed, "points.expired") == _events(clean_events, clean, "points.expired")


def test_a_spend_racing_the_sweep_is_not_lost(api: Api, tmp_path: Path) -> None:
    program = new_program(api)
    _seed_expiring(api, program, MEMBERS)
    raced: dict[str, int] = {}
    lock = threading.Lock()
    spend_time = at("2026-12-31T15:00:00Z")  # an hour before the old lot expires

    def spend_first(_n: int, body: bytes) -> None:
        text = body.decode()
        if '"expire"' not in text:
            return
        member = next(m for m in MEMBERS if f'#MEMBER#{m}"' in text)
        with lock:
            if member in raced:
                return
            raced[member] = 0
        request = RedemptionIn.model_validate(
            {"redemption_id": f"{program}.{member}.race", "points": 30, "occurred_at": "2026-12-31T15:00:00Z"}
        )
        with ThreadPoolExecutor(1) as other:
            raced[member] = other.submit(direct, logic.redeem_points, program, member, request, spend_time).result()[0]

    with events_to(tmp_path / "events.jsonl"), before_send("TransactWriteItems", spend_first):
        (report,) = run(api, "expiry", program, SWEEP_TIME)
    assert len(raced) == 10 and set(raced.values()) == {201}
    assert report["changed"] == 10 and report["retries"] >= 10
    for n, member in enumerate(MEMBERS):
        body = assert_ledger_matches(api, program, member)
        # the spend took 30 from the old lot; the sweep expired only what was left of it
        assert body["points"]["balance"] == 50
        assert api.ledger(member, program).body["entries"][0]["points"] == -(100 + n - 30)


def test_reminders_go_out_30_and_7_days_ahead_once_each(api: Api, tmp_path: Path) -> None:
    program = new_program(api)
    earn(api, program, "rem", "a", "80", "2025-06-01T02:00:00Z")  # expires 2026-12-31T16:00Z
    with events_to(tmp_path / "events.jsonl") as events_file:
        for day in ("2026-11-30", "2026-12-01", "2026-12-02", "2026-12-24", "2026-12-25", "2026-12-26"):
            run(api, "expiry", program, f"{day}T00:05:00+08:00")
        expiring = _events(events_file, program, "points.expiring")
    assert expiring == [
        ("rem", 80, "2026-12-31T16:00:00Z", 7),
        ("rem", 80, "2026-12-31T16:00:00Z", 30),
    ]
    times = [e["time"] for e in published(events_file, program)]
    assert times == ["2026-12-01T16:05:00Z", "2026-12-24T16:05:00Z"]  # the runs of Dec 2 and Dec 25
    # reminders alone move no points: no ledger entry
    assert [e["kind"] for e in api.ledger("rem", program).body["entries"]] == ["earn"]
    assert_ledger_matches(api, program, "rem")


# --- refunds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "balance", "negative", "forgiven"),
    [("clamp", 0, 0, 30), ("allow", -30, 30, 0)],
)
def test_a_partial_refund_after_a_partial_spend(
    api: Api, kind: str, balance: int, negative: int, forgiven: int
) -> None:
    program = new_program(api, policy(kind))
    earn(api, program, "rf", "o1", "100.00", "2026-03-01T02:00:00Z")  # 100 points, 100 growth
    assert redeem(api, program, "rf", "r1", 80, "2026-03-02T02:00:00Z").status == 201  # 20 left
    # Half the order comes back: 50 points to reverse, only 20 left in its lot
    reply = refund(api, program, "rf", "refund-1", "o1", "2026-03-03T02:00:00Z", "50.00")
    assert reply.status == 201, reply.body
    body = reply.body
    assert (body["points_reversed"], body["growth_reversed"]) == (50 - forgiven, 50)
    assert (body["negative_balance_added"], body["points_forgiven"]) == (negative, forgiven)
    assert body["drawn"] == [{"points": 20, "expires_at": "2027-12-31T16:00:00Z"}]
    assert body["member"]["points"]["balance"] == balance
    assert body["member"]["points"]["negative_balance"] == negative
    assert body["member"]["growth"] == 50
    assert_ledger_matches(api, program, "rf")
    # A later earn pays the negative balance back first
    later_earn = earn(api, program, "rf", "o2", "40", "2026-03-04T02:00:00Z").body
    assert later_earn["member"]["points"]["balance"] == balance + 40
    assert later_earn["member"]["points"]["available"] == max(0, balance + 40)
    assert_ledger_matches(api, program, "rf")


def test_refund_rules_422_409_404_and_idempotency(api: Api) -> None:
    program = new_program(api)
    earn(api, program, "rr", "o1", "100.00", "2026-03-01T02:00:00Z")
    too_much = refund(api, program, "rr", "x1", "o1", "2026-03-02T00:00:00Z", "100.01")
    assert too_much.status == 422
    assert too_much.body["error"]["details"][0]["field"] == "attributes.refund_amount"
    assert refund(api, program, "rr", "x2", "o1", "2026-03-02T00:00:00Z", "60.00").status == 201
    beyond = refund(api, program, "rr", "x3", "o1", "2026-03-02T00:00:00Z", "40.01")
    assert (beyond.status, beyond.body["error"]["code"]) == (409, "REFUND_EXCEEDS_ORDER")
    # The rest, as a full refund (no amount): exactly the remaining 40
    rest = refund(api, program, "rr", "x4", "o1", "2026-03-02T00:00:00Z", None)
    assert (rest.status, rest.body["refund_amount"], rest.body["points_reversed"]) == (201, "40.00", 40)
    again = refund(api, program, "rr", "x4", "o1", "2026-03-02T00:00:00Z", None)
    assert (again.status, again.body) == (200, rest.body)  # a replay
    nothing_left = refund(api, program, "rr", "x5", "o1", "2026-03-02T00:00:00Z", None)
    assert nothing_left.status == 409
    unknown = refund(api, program, "rr", "x6", "nope", "2026-03-02T00:00:00Z", None)
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "ORDER_NOT_FOUND")
    body = assert_ledger_matches(api, program, "rr")
    assert (body["points"]["balance"], body["growth"]) == (0, 0)
    # The same order reported twice is refused: refunds would not know which earn to reverse
    again_body = order("o1-again", "10", at="2026-03-05T00:00:00Z", order_id="order-o1")
    twice = api.event("rr", again_body, program=program, at=later("2026-03-05T00:00:00Z"))
    assert (twice.status, twice.body["error"]["code"]) == (409, "ORDER_ALREADY_REPORTED")


def test_a_refund_can_drop_the_tier(api: Api) -> None:
    program = new_program(api)
    earned = earn(api, program, "rt", "o1", "2500", "2026-03-01T02:00:00Z").body
    assert earned["member"]["tier"]["code"] == "silver"
    reply = refund(api, program, "rt", "x", "o1", "2026-03-02T02:00:00Z", "1000")
    assert reply.body["tier_change"] == {"from": "silver", "to": "bronze", "reason": "refund"}
    assert reply.body["member"]["growth"] == 1500
    assert_ledger_matches(api, program, "rt")


def test_pending_points_become_available_after_the_return_window_and_a_refund_removes_them(api: Api) -> None:
    program = new_program(api, policy("clamp", pending_days=7))
    earn(api, program, "pd", "o1", "100", "2026-03-01T02:00:00Z")
    body = snapshot(api, program, "pd", "2026-03-02T00:00:00Z")
    assert body["points"]["available"] == 0 and body["points"]["pending"] == 100
    assert body["points"]["pending_lots"] == [
        {"points": 100, "expires_at": "2027-12-31T16:00:00Z", "available_at": "2026-03-08T02:00:00Z"}
    ]
    refused = redeem(api, program, "pd", "r1", 10, "2026-03-02T00:00:00Z")
    assert (refused.status, refused.body["error"]["code"]) == (409, "INSUFFICIENT_POINTS")
    # A refund inside the window takes the points out of pending
    refund(api, program, "pd", "x", "o1", "2026-03-03T00:00:00Z", "40")
    body = snapshot(api, program, "pd", "2026-03-03T01:00:00Z")
    assert (body["points"]["pending"], body["points"]["balance"]) == (60, 60)
    # After the window the rest is spendable
    body = snapshot(api, program, "pd", "2026-03-08T02:00:00Z")
    assert (body["points"]["available"], body["points"]["pending"]) == (60, 0)
    assert redeem(api, program, "pd", "r2", 60, "2026-03-08T02:00:00Z").status == 201
    assert_ledger_matches(api, program, "pd")


# --- reversal -------------------------------------------------------------------------


def test_a_reversal_returns_points_to_their_lots_but_never_revives_expired_ones(api: Api, tmp_path: Path) -> None:
    program = new_program(api)
    earn(api, program, "rv", "a", "100", "2025-06-01T02:00:00Z")  # expires 2026-12-31T16:00Z
    earn(api, program, "rv", "b", "100", "2026-03-01T02:00:00Z")  # expires 2027-12-31T16:00Z
    assert redeem(api, program, "rv", "r1", 150, "2026-06-01T00:00:00Z").status == 201
    # the first lot expires (and is swept) before the reversal
    with events_to(tmp_path / "events.jsonl"):
        run(api, "expiry", program, SWEEP_TIME)
    # A redemption is reversed only on its own member
    path = f"/v1/programs/{program}/members/someone-else/redemptions/rv.r1/reversal"
    other = api.call("POST", path, {}, at=later("2027-01-05T00:00:00Z"))
    assert (other.status, other.body["error"]["code"]) == (404, "REDEMPTION_NOT_FOUND")
    reply = reverse(api, program, "rv", "r1", "2027-01-05T00:00:00Z")
    assert reply.status == 201, reply.body
    assert reply.body["points_returned"] == 50
    assert reply.body["returned"] == [{"points": 50, "expires_at": "2027-12-31T16:00:00Z"}]
    assert reply.body["points_not_revived"] == 100
    assert reply.body["member"]["points"]["balance"] == 100
    again = reverse(api, program, "rv", "r1", "2027-01-05T00:00:00Z")
    assert (again.status, again.body) == (200, reply.body)
    unknown = reverse(api, program, "rv", "nope", "2027-01-05T00:00:00Z")
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "REDEMPTION_NOT_FOUND")
    assert_ledger_matches(api, program, "rv")


def test_concurrent_reversals_of_one_redemption_apply_once(api: Api) -> None:
    program = new_program(api)
    earn(api, program, "rc", "a", "100", "2026-03-01T02:00:00Z")
    assert redeem(api, program, "rc", "r1", 60, "2026-03-02T00:00:00Z").status == 201
    from shared.api import ReversalIn

    when = at("2026-03-03T00:00:00Z")
    with ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda _: direct(logic.reverse_redemption, program, "rc", "rc.r1", ReversalIn(), when), range(8))
        )
    assert sorted(status for status, _ in replies) == [200] * 7 + [201]
    body = assert_ledger_matches(api, program, "rc")
    assert body["points"]["balance"] == 100


def test_imported_history_whose_lot_already_expired_is_swept_by_the_next_run(api: Api, tmp_path: Path) -> None:
    # Given a program whose sweep has completed every month before February 2027
    program = new_program(api)
    with events_to(tmp_path / "events.jsonl"):
        run(api, "expiry", program, "2027-02-03T00:05:00+08:00")
        # When an order from December 2024 is imported on Feb 5 (its points expired at the end of 2025)
        imported = api.event(
            "imp", order("old", "100", at="2024-12-16T02:00:00Z"), program=program, at=at("2027-02-05T00:00:00Z")
        )
        assert imported.status == 201, imported.body
        earn(api, program, "imp", "new", "50", "2027-02-05T00:00:00Z")
        # Then the next daily run expires it (its due key went to the month of the import)
        (report,) = run(api, "expiry", program, "2027-02-06T00:05:00+08:00")
    assert report["changed"] == 1
    body = assert_ledger_matches(api, program, "imp")
    assert body["points"]["balance"] == 50
    assert api.ledger("imp", program).body["entries"][0]["kind"] == "expire"


def test_a_refund_reported_after_the_sweep_does_not_charge_twice(api: Api, tmp_path: Path) -> None:
    program = new_program(api)
    earn(api, program, "ls", "a", "100", "2025-06-01T02:00:00Z")  # expires 2026-12-31T16:00Z
    earn(api, program, "ls", "b", "300", "2026-06-01T02:00:00Z")
    with events_to(tmp_path / "events.jsonl"):
        run(api, "expiry", program, SWEEP_TIME)
    # A full refund of a, dated before the expiry but reported after the sweep
    body = {"event_id": "ref", "type": "order_refunded", "occurred_at": "2026-12-20T00:00:00Z"}
    reply = api.event(
        "ls", {**body, "attributes": {"order_id": "order-a"}}, program=program, at=at("2027-01-05T00:00:00Z")
    )
    assert reply.status == 201, reply.body
    assert (reply.body["points_reversed"], reply.body["points_lapsed"]) == (0, 100)
    assert assert_ledger_matches(api, program, "ls")["points"]["balance"] == 300


def test_a_reversal_dated_before_its_redemption_is_refused(api: Api) -> None:
    program = new_program(api)
    earn(api, program, "rb", "a", "100", "2026-03-01T02:00:00Z")
    assert redeem(api, program, "rb", "r1", 60, "2026-03-05T00:00:00Z").status == 201
    early = reverse(api, program, "rb", "r1", "2026-03-04T00:00:00Z")
    assert (early.status, early.body["error"]["details"][0]["field"]) == (422, "occurred_at")
    assert reverse(api, program, "rb", "r1", "2026-03-06T00:00:00Z").status == 201
    # Another member naming the same redemption id is told it has no such redemption
    path = f"/v1/programs/{program}/members/other/redemptions/rb.r1/reversal"
    assert api.call("POST", path, {}, at=at("2026-03-07T00:00:00Z")).status == 404
    assert_ledger_matches(api, program, "rb")
