"""Concurrency: many writers hammer a few hot members with mixed writes for a bounded time.

Each thread plays one Lambda container calling the use cases (the handlers run one at a time
per process, as in Lambda; the races are between DynamoDB writers). Writes are orders,
logins and reviews on a handful of business days (so day caps and monthly bonuses race),
redemptions, exact replays and conflicting replays of keys other threads used. Afterwards,
for every member: its balance and growth equal its ledger sums and the sums of what the 201
answers said; nothing is negative; every key took effect at most once, and exactly once if
any answer said 201; replays answered the first response; no day cap or monthly bonus was
given twice (a lost update on the member's counters would show here).

Adding an operation (a refund, a reversal): one more branch in ``Hammer.one_write`` and its
effect in ``applied_effect``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from shared import logic
from shared.api import EventIn, RedemptionIn
from tests.integration.conftest import NOW, Api, direct
from tests.proofs.conftest import SCALE

EVENT: TypeAdapter[Any] = TypeAdapter(EventIn)
THREADS = 12
HOT_MEMBERS = 3
SECONDS = 6.0 * SCALE
DAYS = ("2026-11-20T01:00:00Z", "2026-11-21T15:59:00Z", "2026-11-21T16:00:00Z", "2026-11-22T03:00:00Z")
"""Business times: 15:59 and 16:00 UTC are two Shanghai days; all in one Shanghai month."""


@dataclass
class Sent:
    route: str  # events | redemptions
    member: str
    key: str
    body: dict[str, Any]
    status: int
    answer: dict[str, Any]


@dataclass
class Hammer:
    members: list[str]
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[Sent] = field(default_factory=list)

    def send(self, route: str, member: str, body: dict[str, Any]) -> None:
        if route == "events":
            status, answer = direct(logic.report_event, "default", member, EVENT.validate_python(body), NOW)
            key = body["event_id"]
        else:
            request = RedemptionIn.model_validate(body)
            status, answer = direct(logic.redeem_points, "default", member, request, NOW)
            key = body["redemption_id"]
        with self.lock:
            self.log.append(Sent(route, member, key, body, status, answer))

    def one_write(self, rng: random.Random, thread: int, n: int) -> None:
        member = rng.choice(self.members)
        key = f"{member}.t{thread}.{n}"
        roll = rng.random()
        when = rng.choice(DAYS)
        if roll < 0.30:
            amount = f"{rng.randint(0, 120)}.{rng.randint(0, 99):02d}"
            attributes = {"order_id": key, "settled_amount": amount}
            self.send(
                "events",
                member,
                {"event_id": key, "type": "order_completed", "occurred_at": when, "attributes": attributes},
            )
        elif roll < 0.40:
            self.send("events", member, {"event_id": key, "type": "login", "occurred_at": when})
        elif roll < 0.45:
            attributes = {"item_id": key, "item_price": rng.choice(["19.99", "20"]), "rank": rng.randint(9, 11)}
            self.send(
                "events",
                member,
                {"event_id": key, "type": "photo_review_approved", "occurred_at": when, "attributes": attributes},
            )
        elif roll < 0.75:
            self.send("redemptions", member, {"redemption_id": key, "points": rng.randint(1, 120)})
        else:
            with self.lock:
                earlier = rng.choice(self.log) if self.log else None
            if earlier is None:
                return
            body = json.loads(json.dumps(earlier.body))
            if roll < 0.88:  # the same request again (another container retrying it)
                self.send(earlier.route, earlier.member, body)
            elif earlier.route == "redemptions":  # the same key, another body
                body["points"] += 1
                self.send(earlier.route, earlier.member, body)
            else:  # the same key for another member
                self.send(
                    earlier.route, self.members[(self.members.index(earlier.member) + 1) % len(self.members)], body
                )

    def run_thread(self, thread: int) -> int:
        rng = random.Random(f"hammer-{thread}")
        n = 0
        while time.monotonic() < self.deadline:
            self.one_write(rng, thread, n)
            n += 1
        return n


def applied_effect(sent: Sent) -> tuple[int, int]:
    """(points, growth) a 201 answer says the write changed."""
    if sent.route == "events":
        return sent.answer["points_earned"], sent.answer["growth_earned"]
    return -sent.answer["points"], 0


def ledger(api: Api, member: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    query = "?limit=100"
    while True:
        page = api.ledger(member, "default", query).body
        entries.extend(page["entries"])
        if not page["next_cursor"]:
            return list(reversed(entries))
        query = f"?limit=100&cursor={page['next_cursor']}"


def test_hot_members_hammered_by_mixed_writers_stay_consistent(api: Api, member_id: str) -> None:
    members = [f"{member_id}-hot{i}" for i in range(HOT_MEMBERS)]
    hammer = Hammer(members, 0.0)
    for member in members:  # every member starts with points to spend
        seed = {"order_id": f"{member}.seed", "settled_amount": "500"}
        hammer.send(
            "events",
            member,
            {"event_id": seed["order_id"], "type": "order_completed", "occurred_at": DAYS[0], "attributes": seed},
        )

    hammer.deadline = time.monotonic() + SECONDS
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        writes = sum(pool.map(hammer.run_thread, range(THREADS)))

    # A 503 BUSY said "retry with the same key": do so, as a client would, until answered.
    for sent in [s for s in hammer.log if s.status == 503]:
        while True:
            hammer.send(sent.route, sent.member, sent.body)
            if hammer.log[-1].status != 503:
                break

    statuses = Counter((s.route, s.status) for s in hammer.log)
    print(f"{writes} writes from {THREADS} threads on {HOT_MEMBERS} members in {SECONDS:.0f} s: {dict(statuses)}")
    assert {status for _route, status in statuses} <= {200, 201, 409, 503}, statuses
    assert statuses[("events", 201)] > 50 and statuses[("redemptions", 201)] > 10, statuses
    assert statuses[("events", 200)] + statuses[("redemptions", 200)] > 0, statuses

    # Every key: at most one 201; every later exact replay answered that 201's body.
    by_key: dict[tuple[str, str], list[Sent]] = defaultdict(list)
    for sent in hammer.log:
        by_key[(sent.route, sent.key)].append(sent)
    applied: dict[tuple[str, str], Sent] = {}
    for key, attempts in by_key.items():
        firsts = [s for s in attempts if s.status == 201]
        assert len(firsts) <= 1, (key, [s.status for s in attempts])
        if firsts:
            first = firsts[0]
            applied[key] = first
            for other in attempts:
                if other.status == 200:
                    assert (other.member, other.body) == (first.member, first.body), key
                    assert other.answer == first.answer, key
                elif other.status == 409 and other.answer["error"]["code"] == "IDEMPOTENCY_CONFLICT":
                    assert (other.member, other.body) != (first.member, first.body), key
        else:
            assert all(s.status != 200 for s in attempts), (key, [s.status for s in attempts])

    for member in members:
        snapshot = api.member(member).body
        entries = ledger(api, member)
        mine = {key: sent for key, sent in applied.items() if sent.member == member}
        # every key took effect exactly once, and only keys some answer said 201 for
        ledger_keys = [("events" if e["kind"] == "earn" else "redemptions", e.get("event_id") or e.get("redemption_id"))
                       for e in entries]  # fmt: skip
        assert sorted(ledger_keys) == sorted(mine), member
        # balance = ledger sum = what the 201 answers said, and a gapless chain
        assert [e["entry_id"] for e in entries] == list(range(1, len(entries) + 1))
        assert snapshot["version"] == len(entries)
        points = growth = 0
        for entry in entries:
            points += entry["points"]
            growth += entry["growth"]
            assert (entry["balance_after"], entry["growth_after"]) == (points, growth)
            assert entry["balance_after"] >= 0  # invariant 1: never below zero, at any moment
        said = [applied_effect(sent) for sent in mine.values()]
        assert (points, growth) == (snapshot["points"]["balance"], snapshot["growth"])
        assert (sum(p for p, _ in said), sum(g for _, g in said)) == (points, growth)
        assert snapshot["points"]["available"] >= 0
        # day caps and the monthly bonus were given once, however many writers raced for them
        logins = [e for e in entries if e["event_type"] == "login"]
        days = {_shanghai_day(e["occurred_at"]) for e in logins}
        rewarded = Counter(_shanghai_day(e["occurred_at"]) for e in logins if e["growth"] > 0)
        assert rewarded == dict.fromkeys(days, 1), rewarded
        bonuses = [a for e in entries for a in e["awards"] if a["rule"] == "monthly_bonus" and a["growth"] > 0]
        assert len(bonuses) <= 1
        orders = sum(1 for e in entries if e["event_type"] == "order_completed")
        assert len(bonuses) == (1 if orders >= 3 else 0)


def _shanghai_day(utc: str) -> str:
    return (datetime.fromisoformat(utc.replace("Z", "+00:00")) + timedelta(hours=8)).date().isoformat()
