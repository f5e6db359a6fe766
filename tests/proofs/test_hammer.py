"""Concurrency: many writers hammer a few hot members with mixed writes for a bounded time,
while the tier job and the expiry sweep run over the same members.

Each thread plays one Lambda container calling the use cases (the handlers run one at a time
per process, as in Lambda; the races are between DynamoDB writers). Writes are orders,
logins and reviews on a handful of business days (so day caps and monthly bonuses race; one
day's points have expired already by the request time), redemptions (some member-initiated,
so rate limited), refunds of the hammer's own orders (full, partial, more than is left, more
than the order, unknown orders, another member's order), reversals of its redemptions (and of
redemptions that never happened or are another member's), exact replays and conflicting
replays of keys other threads used. Two more threads run the tier job and the expiry sweep
(the job runner, publishing to an in-memory bus) again and again for the same program at the
same time: every member has a Silver anniversary due (earns and the tier job race to apply it)
and lots to expire or announce. Run once per negative-balance policy (``clamp`` and
``allow``), on a table of the test's own.

Afterwards, for every member: its balance and growth equal its ledger sums and the sums of
what the 201 answers said plus the jobs' entries; the ledger is gapless; every key took effect
at most once, and exactly once if any answer said 201; replays answered the first response;
each refused write (404, 409, 422, 429) got the error its request deserved; no day cap, monthly
bonus or anniversary was given twice; refunds never exceeded their order; a redemption was
reversed at most once; ``clamp`` never let a balance below zero and ``allow`` only through a
refund's negative balance, which every later credit paid back first, as each answer's snapshot
says. The table holds exactly the items those answers account for (a refused write left none),
the outboxes are empty, and the published events match the ledger's expiries and tier changes
one to one.

Adding an operation: one more branch in ``Hammer.one_write``, the answers it may get in
``ERRORS`` and its effect in ``applied_effect``.
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
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from pydantic import TypeAdapter

from shared import logic
from shared.api import EventIn, RedemptionIn, ReversalIn
from shared.expiry_job import plan_expiry_sweep
from shared.jobs import JobReport, run_due_job
from shared.store import PendingEvent
from shared.tier_job import plan_tier_evaluation
from tests.integration.conftest import NOW, Api, direct, table_items
from tests.integration.jobs import new_program
from tests.proofs.conftest import SCALE, Fresh

EVENT: TypeAdapter[Any] = TypeAdapter(EventIn)
THREADS = 12
HOT_MEMBERS = 3
COLD_MEMBERS = 2
"""Members only the jobs touch: the tier job and the sweep always have these to do."""
SECONDS = 6.0 * SCALE
MEMBER_WRITES_PER_MINUTE = 3
"""Member-initiated redemptions allowed per member (one window: every request is at NOW)."""
DAYS = ("2026-11-20T01:00:00Z", "2026-11-21T15:59:00Z", "2026-11-21T16:00:00Z", "2026-11-22T03:00:00Z")
"""Business times: 15:59 and 16:00 UTC are two Shanghai days; all in one Shanghai month."""
EXPIRED_DAY = "2026-11-10T02:00:00Z"
"""Points earned this day expired (end of Nov 13, Shanghai) before the request time NOW."""
SILVER_SINCE = "2025-11-21T12:00:00Z"
"""Every member attained Silver then: its anniversary (2026-11-21T12:00Z) is due at NOW."""
ANNIVERSARY = "2026-11-21T12:00:00Z"
KINDS = {"events": "event", "redemptions": "redemption", "reversals": "reversal"}
ERRORS = {
    # route -> intent -> the answers a request may get (besides 503 BUSY, retried until answered)
    "events": {
        "earn": {201},
        "refund": {201, "REFUND_EXCEEDS_ORDER"},
        "refund beyond the order": {"VALIDATION_ERROR"},
        "refund unknown order": {"ORDER_NOT_FOUND"},
    },
    "redemptions": {"redeem": {201, "INSUFFICIENT_POINTS"}, "member": {201, "INSUFFICIENT_POINTS", "RATE_LIMITED"}},
    # a second reversal of one redemption is a replay: the first answer, or a conflict (another reason)
    "reversals": {"reverse": {201, 200, "IDEMPOTENCY_CONFLICT"}, "reverse unknown": {"REDEMPTION_NOT_FOUND"}},
}
"""What a first request may get; a replay (``replay`` intents) gets 200 with the first answer,
or 409 ``IDEMPOTENCY_CONFLICT`` for another body; sent for another member it is that member's own
request (keys are per member): 409 ``ORDER_ALREADY_REPORTED`` for an order another member reported,
404 for another member's order or redemption."""


def _program(negative_balance: str) -> Any:
    def edit(config: dict[str, Any]) -> None:
        config["refunds"] = {"negative_balance": negative_balance}
        config["expiry"] = {"policy": "rolling_days", "days": 3}  # points earned Nov 10 are gone by NOW
        config["member_redemptions"] = True

    return edit


@dataclass
class Sent:
    route: str  # events | redemptions | reversals
    member: str
    key: str
    body: dict[str, Any]
    status: int
    answer: dict[str, Any]
    intent: str
    by_member: bool = False


@dataclass
class Order:
    member: str
    order_id: str
    amount: Decimal
    occurred_at: str


class Bus:
    """The jobs' event bus: thread safe, in memory (two job threads publish at once)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[PendingEvent] = []

    def publish(self, events: list[PendingEvent], at: datetime) -> list[PendingEvent]:
        with self.lock:
            self.events.extend(events)
        return list(events)


@dataclass
class Hammer:
    program: str
    members: list[str]
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[Sent] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    """Orders answered 201 (refundable)."""
    redemptions: list[tuple[str, str]] = field(default_factory=list)
    """(member, redemption id) of redemptions answered 201 (reversible)."""
    available: dict[str, int] = field(default_factory=dict)
    """Each member's available points as the latest answer saw them."""
    bus: Bus = field(default_factory=Bus)
    job_reports: list[JobReport] = field(default_factory=list)

    def send(
        self, route: str, member: str, body: dict[str, Any], intent: str, key: str = "", by_member: bool = False
    ) -> Sent:
        if route == "events":
            key = body["event_id"]
            status, answer = direct(logic.report_event, self.program, member, EVENT.validate_python(body), NOW)
        elif route == "redemptions":
            key = body["redemption_id"]
            redeem = partial(logic.redeem_points, by_member=by_member)
            status, answer = direct(redeem, self.program, member, RedemptionIn.model_validate(body), NOW)
        else:
            reversal = ReversalIn.model_validate(body)
            status, answer = direct(logic.reverse_redemption, self.program, member, key, reversal, NOW)
        sent = Sent(route, member, key, body, status, answer, intent, by_member)
        with self.lock:
            self.log.append(sent)
            if status == 201:
                self.available[member] = answer["member"]["points"]["available"]
            if status == 201 and body.get("type") == "order_completed" and intent == "earn":
                attributes = body["attributes"]
                self.orders.append(
                    Order(member, attributes["order_id"], Decimal(attributes["settled_amount"]), body["occurred_at"])
                )
            elif route == "redemptions" and status == 201 and intent != "replay":
                self.redemptions.append((member, key))
        return sent

    def order(self, member: str, key: str, amount: str, when: str, intent: str = "earn") -> Sent:
        attributes = {"order_id": key, "settled_amount": amount}
        body = {"event_id": key, "type": "order_completed", "occurred_at": when, "attributes": attributes}
        return self.send("events", member, body, intent)

    def one_write(self, rng: random.Random, thread: int, n: int) -> None:
        member = rng.choice(self.members)
        key = f"{member}.t{thread}.{n}"
        roll = rng.random()
        when = rng.choice(DAYS)
        if roll < 0.22:
            amount = f"{rng.randint(0, 120)}.{rng.randint(0, 99):02d}"
            self.order(member, key, amount, EXPIRED_DAY if rng.random() < 0.15 else when)
        elif roll < 0.28:
            self.send("events", member, {"event_id": key, "type": "login", "occurred_at": when}, "earn")
        elif roll < 0.31:
            attributes = {"item_id": key, "item_price": rng.choice(["19.99", "20"]), "rank": rng.randint(9, 11)}
            body = {"event_id": key, "type": "photo_review_approved", "occurred_at": when, "attributes": attributes}
            self.send("events", member, body, "earn")
        elif roll < 0.50:
            by_member = rng.random() < 0.3
            # half spend all they have (as the last answer saw it): refunds then meet spent points;
            # members spend a little
            with self.lock:
                everything = self.available.get(member, 0)
            points = everything if rng.random() < 0.5 and everything > 0 else rng.randint(1, 120)
            body = {"redemption_id": key, "points": rng.randint(1, 30) if by_member else points}
            self.send("redemptions", member, body, "member" if by_member else "redeem", by_member=by_member)
        elif roll < 0.63:
            self.refund(rng, key)
        elif roll < 0.73:
            self.reverse(rng, key)
        else:
            self.replay(rng, roll)

    def refund(self, rng: random.Random, key: str) -> None:
        with self.lock:
            order = rng.choice(self.orders) if self.orders else None
        if order is None:
            return
        member, attributes, intent = order.member, {"order_id": order.order_id}, "refund"
        choice = rng.random()
        cents = int(order.amount * 100)
        if choice < 0.40 or cents == 0:
            pass  # a full refund: whatever is left of the order
        elif choice < 0.80:
            attributes["refund_amount"] = str(Decimal(rng.randint(1, cents)) / 100)
        elif choice < 0.90:
            attributes["refund_amount"] = str(order.amount + Decimal(rng.randint(1, 1000)) / 100)
            intent = "refund beyond the order"
        elif choice < 0.95:
            attributes["order_id"] = f"{order.order_id}.unknown"
            intent = "refund unknown order"
        else:  # the order exists, for another member
            member = self.members[(self.members.index(member) + 1) % len(self.members)]
            intent = "refund unknown order"
        # dated on or after the order
        refunded_at = rng.choice([day for day in DAYS if day >= order.occurred_at] or [DAYS[-1]])
        body = {"event_id": key, "type": "order_refunded", "occurred_at": refunded_at, "attributes": attributes}
        self.send("events", member, body, intent)

    def reverse(self, rng: random.Random, key: str) -> None:
        with self.lock:
            if not self.redemptions:
                return
            member, redemption = rng.choice(self.redemptions)
        intent, choice = "reverse", rng.random()
        if choice < 0.05:  # a redemption that never happened
            redemption, intent = f"{key}.never", "reverse unknown"
        elif choice < 0.15:  # another member's
            member, intent = self.members[(self.members.index(member) + 1) % len(self.members)], "reverse unknown"
        body = {"reason": "order cancelled"} if rng.random() < 0.5 else {}
        self.send("reversals", member, body, intent, key=redemption)

    def replay(self, rng: random.Random, roll: float) -> None:
        with self.lock:
            earlier = rng.choice(self.log) if self.log else None
        if earlier is None or earlier.member not in self.members:
            return  # the cold members are the jobs' alone
        body = json.loads(json.dumps(earlier.body))
        member = earlier.member
        if roll < 0.89:  # the same request again (another container retrying it)
            pass
        elif earlier.route == "redemptions":  # the same key, another body
            body["points"] += 1
        elif earlier.route == "reversals":
            body["reason"] = f"{body.get('reason')} (again)"
        elif roll < 0.97 or "order_id" not in body.get("attributes", {}):  # the same key, another time
            moment = datetime.fromisoformat(body["occurred_at"].replace("Z", "+00:00")) - timedelta(seconds=1)
            body["occurred_at"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:  # an order's request for another member: keys are per member, order ids per program,
            # so it is refused (409 ORDER_ALREADY_REPORTED, 404 ORDER_NOT_FOUND), never applied
            member = self.members[(self.members.index(member) + 1) % len(self.members)]
        self.send(earlier.route, member, body, "replay", key=earlier.key, by_member=earlier.by_member)

    def run_thread(self, thread: int) -> int:
        rng = random.Random(f"hammer-{thread}")
        n = 0
        while time.monotonic() < self.deadline:
            self.one_write(rng, thread, n)
            n += 1
        return n

    def run_jobs(self, thread: int) -> int:
        """Alternate the expiry sweep and the tier job at NOW until the deadline."""
        runs = 0
        while time.monotonic() < self.deadline:
            self.run_job(("expiry", "tier")[(thread + runs) % 2])
            runs += 1
        return runs

    def run_job(self, job: str) -> JobReport:
        plan = plan_expiry_sweep if job == "expiry" else plan_tier_evaluation
        report = run_due_job(job, self.program, NOW, plan, self.bus, page_size=2, workers=4)
        assert report.status == "done"
        with self.lock:
            self.job_reports.append(report)
        return report


def applied_effect(sent: Sent) -> tuple[int, int]:
    """(points, growth) a 201 answer says the write changed."""
    answer = sent.answer
    if sent.route == "redemptions":
        return -answer["points"], 0
    if sent.route == "reversals":
        return answer["points_returned"], 0
    if sent.body["type"] == "order_refunded":
        return -answer["points_reversed"], -answer["growth_reversed"]
    return answer["points_earned"], answer["growth_earned"] - answer.get("anniversary_growth_deducted", 0)


def ledger(api: Api, member: str, program: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    query = "?limit=100"
    while True:
        page = api.ledger(member, program, query).body
        entries.extend(page["entries"])
        if not page["next_cursor"]:
            return list(reversed(entries))
        query = f"?limit=100&cursor={page['next_cursor']}"


def _ledger_key(entry: dict[str, Any]) -> tuple[str, str] | None:
    """The client key a ledger entry was written for (``None``: a job's entry)."""
    if entry["kind"] in ("earn", "refund"):
        return "events", entry["event_id"]
    if entry["kind"] == "redeem":
        return "redemptions", entry["redemption_id"]
    if entry["kind"] == "reversal":
        return "reversals", entry["redemption_id"]
    assert entry["kind"] in ("expire", "tier_evaluation"), entry
    return None


@pytest.mark.parametrize("negative_balance", ["clamp", "allow"])
def test_hot_members_hammered_by_mixed_writers_and_jobs_stay_consistent(
    fresh_table: Fresh, monkeypatch: pytest.MonkeyPatch, negative_balance: str
) -> None:
    import boto3

    api = fresh_table.api
    monkeypatch.setenv("MEMBER_WRITES_PER_MINUTE", str(MEMBER_WRITES_PER_MINUTE))
    program = new_program(api, _program(negative_balance))
    hot = [f"hot{i}" for i in range(HOT_MEMBERS)]
    cold = [f"cold{i}" for i in range(COLD_MEMBERS)]
    hammer = Hammer(program, hot, 0.0)
    for job in ("expiry", "tier"):  # the jobs' first runs: the program's past months have nothing due
        assert hammer.run_job(job).changed == 0
    hammer.job_reports.clear()
    for member in hot + cold:
        # Silver since a year ago (its anniversary is due), with points long expired
        assert hammer.order(member, f"{member}.silver", "2500", SILVER_SINCE, intent="seed").status == 201
    for member in hot:  # and points to spend, earned before the anniversary (which stays due)
        assert hammer.order(member, f"{member}.seed", "500", DAYS[0]).status == 201
        # the member spends a point itself (one of its tokens for the minute)
        body = {"redemption_id": f"{member}.own", "points": 1}
        assert hammer.send("redemptions", member, body, "member", by_member=True).status == 201

    hammer.deadline = time.monotonic() + SECONDS
    with ThreadPoolExecutor(max_workers=THREADS + 2) as pool:
        jobs = [pool.submit(hammer.run_jobs, thread) for thread in range(2)]
        writes = sum(pool.map(hammer.run_thread, range(THREADS)))
        job_runs = sum(job.result() for job in jobs)
    concurrent_reports = list(hammer.job_reports)

    # A 503 BUSY said "retry with the same key": do so, as a client would, until answered.
    for sent in [s for s in hammer.log if s.status == 503]:
        for _attempt in range(10):
            if hammer.send(sent.route, sent.member, sent.body, sent.intent, sent.key, sent.by_member).status != 503:
                break
        else:
            raise AssertionError(f"still 503 BUSY with nothing else writing: {sent}")
    # The jobs once more, alone: whatever the race left due is done now, every outbox drained.
    for job in ("expiry", "tier"):
        report = hammer.run_job(job)
        assert report.failed == 0, report

    statuses = Counter((s.route, s.status) for s in hammer.log)
    changed = Counter()
    for report in concurrent_reports:
        changed[report.job] += report.changed
    print(
        f"{writes} writes from {THREADS} threads on {HOT_MEMBERS} members in {SECONDS:.0f} s, {negative_balance}: "
        f"{dict(statuses)}; {job_runs} job runs alongside changed {dict(changed)}, "
        f"retries {sum(r.retries for r in concurrent_reports)}, failed {sum(r.failed for r in concurrent_reports)}"
    )
    assert statuses[("events", 201)] > 40 and statuses[("redemptions", 201)] > 10, statuses
    assert statuses[("reversals", 201)] > 3, statuses
    assert statuses[("events", 200)] + statuses[("redemptions", 200)] + statuses[("reversals", 200)] > 0, statuses
    refunds = [s for s in hammer.log if s.body.get("type") == "order_refunded"]
    assert sum(s.status == 201 for s in refunds) > 5 and any(s.status == 409 for s in refunds), Counter(
        (s.intent, s.status) for s in refunds
    )
    if negative_balance == "allow":  # the policy's point: spent points refunded became a negative balance
        assert any(s.status == 201 and s.answer["negative_balance_added"] > 0 for s in refunds)
    member_statuses = Counter(s.status for s in hammer.log if s.intent == "member")
    assert member_statuses[429] > 0, member_statuses  # the members' windows filled up
    # the jobs had work while the writers ran: every cold member's anniversary and lapsed points,
    # and more than that for the sweep (the hot members' expired lots and reminders)
    assert changed["tier"] >= COLD_MEMBERS and changed["expiry"] > COLD_MEMBERS, changed

    # Every request got an answer it deserved.
    for sent in hammer.log:
        if sent.status == 503:
            assert sent.answer["error"]["code"] == "BUSY"
        elif sent.intent == "replay":  # checked against the key's first answer below
            assert sent.status in (200, 201, 404, 409, 422, 429), sent
        elif sent.intent != "seed":
            outcome = sent.status if sent.status < 400 else sent.answer["error"]["code"]
            assert outcome in ERRORS[sent.route][sent.intent], sent

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
                elif other.status == 404 and other.route == "reversals":
                    assert other.member != first.member, key  # another member's redemption
        else:
            assert all(s.status != 200 for s in attempts), (key, [s.status for s in attempts])

    _check_refunds_and_reversals(hammer, applied)
    published = {e.event_id: e for e in hammer.bus.events}
    for member in hot + cold:
        _check_member(api, program, member, negative_balance, applied, published)
    for member in cold:  # only the jobs touched these: one anniversary (Silver 2500 -> Bronze 1500), one expiry
        entries = ledger(api, member, program)
        assert sorted((e["kind"], e["points"], e["growth"]) for e in entries) == [
            ("earn", 2500, 2500),
            ("expire", -2500, 0),
            ("tier_evaluation", 0, -1000),
        ], entries
        assert api.member(member, program).body["tier"]["code"] == "bronze"
    # Every event the jobs published stands for a ledger entry (checked per member above), and
    # nothing else: no other program's, nothing twice with different content.
    for event in hammer.bus.events:
        assert event.detail["program_id"] == program
        assert event.detail == published[event.event_id].detail
    dynamo = boto3.client("dynamodb", endpoint_url=api.endpoint)
    _check_table(table_items(dynamo, api.table_name), program, applied, hammer)


def _check_refunds_and_reversals(hammer: Hammer, applied: dict[tuple[str, str], Sent]) -> None:
    """Refunds never exceed their order; a redemption is reversed at most once, by its member,
    giving back no more than it drew."""
    orders = {(o.member, o.order_id): o for o in hammer.orders}
    refunds: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for sent in applied.values():
        if sent.route == "events" and sent.body["type"] == "order_refunded":
            refunds[(sent.member, sent.answer["order_id"])].append(sent.answer)
    for key, answers in refunds.items():
        order = orders[key]  # only orders answered 201 were refunded
        total = sum(Decimal(a["refund_amount"]) for a in answers)
        assert total <= order.amount, (key, total, order.amount)
        # refunds of one order serialise: each saw every earlier one
        running = Decimal(0)
        for answer in sorted(answers, key=lambda a: a["ledger_entry_id"]):
            running += Decimal(answer["refund_amount"])
            assert Decimal(answer["order_refunded_amount"]) == running, key
        earned = applied[("events", order.order_id)].answer
        own = next(a for a in earned["awards"] if a["rule"] == "order_completed")
        taken = sum(a["points_reversed"] + a["points_forgiven"] + a["points_lapsed"] for a in answers)
        assert taken <= own["points"], (key, taken, own)
        assert sum(a["growth_reversed"] for a in answers) <= own["growth"], key
    redeemed = {sent.key: sent for sent in applied.values() if sent.route == "redemptions"}
    for sent in applied.values():
        if sent.route == "reversals":
            redemption = redeemed[sent.key]
            assert sent.member == redemption.member, sent.key
            answer = sent.answer
            given_back = answer["points_returned"] + answer["points_not_revived"] + answer["points_to_refunds"]
            assert given_back == redemption.body["points"], sent.key


def _check_member(
    api: Api,
    program: str,
    member: str,
    negative_balance: str,
    applied: dict[tuple[str, str], Sent],
    published: dict[str, PendingEvent],
) -> None:
    snapshot = api.member(member, program).body
    entries = ledger(api, member, program)
    mine = {key: sent for key, sent in applied.items() if sent.member == member}
    # every key took effect exactly once, and only keys some answer said 201 for
    ledger_keys = [key for key in map(_ledger_key, entries) if key is not None]
    assert sorted(ledger_keys) == sorted(mine), member
    # balance = ledger sum = what the 201 answers said + the jobs' entries, and a gapless chain
    assert [e["entry_id"] for e in entries] == list(range(1, len(entries) + 1))
    answers = {sent.answer["ledger_entry_id"]: sent for sent in mine.values()}
    assert len(answers) == len(mine)
    points = growth = debt = 0
    versions = []
    for entry in entries:
        points += entry["points"]
        growth += entry["growth"]
        assert (entry["balance_after"], entry["growth_after"]) == (points, growth)
        sent = answers.get(entry["entry_id"])
        if sent is not None:
            # the answer's snapshot is the member as this entry left it
            answer, kind = sent.answer, entry["kind"]
            after = answer["member"]["points"]
            if kind == "refund":
                assert answer["negative_balance_added"] == 0 or negative_balance == "allow"
                assert answer["points_forgiven"] == 0 or negative_balance == "clamp"
                debt += answer["negative_balance_added"]
            elif kind in ("earn", "reversal"):  # a credit pays a negative balance back first
                debt = max(0, debt - (answer["points_earned"] if kind == "earn" else answer["points_returned"]))
            assert (after["balance"], after["negative_balance"]) == (entry["balance_after"], debt), entry
            assert after["available"] >= 0
            versions.append(answer["member"]["version"])
        # invariant 1: never below zero, at any moment, except by a negative balance the policy allows
        assert entry["balance_after"] >= (-debt if negative_balance == "allow" else 0), entry
        assert debt == 0 or negative_balance == "allow"
    assert versions == sorted(set(versions))  # answers in ledger order saw strictly newer members
    assert (points, growth) == (snapshot["points"]["balance"], snapshot["growth"])
    said = [applied_effect(sent) for sent in mine.values()]
    jobs = [(e["points"], e["growth"]) for e in entries if _ledger_key(e) is None]
    assert (sum(p for p, _ in said + jobs), sum(g for _, g in said + jobs)) == (points, growth)
    # After the last sweep no lot is past its expiry: the balance is the live lots less the debt,
    # and a member still in debt holds no points at all.
    lots = sum(lot["points"] for lot in snapshot["points"]["expiring"])
    assert snapshot["points"]["negative_balance"] == debt
    assert snapshot["points"]["balance"] == lots - debt
    assert debt == 0 or lots == 0
    assert snapshot["version"] >= len(entries)  # reminders alone bump the version, with no entry
    # day caps, the monthly bonus and the anniversary were given once, however many writers raced
    logins = [e for e in entries if e["event_type"] == "login"]
    days = {_shanghai_day(e["occurred_at"]) for e in logins}
    rewarded = Counter(
        _shanghai_day(e["occurred_at"]) for e in logins for a in e["awards"] if a["rule"] == "login" and a["growth"] > 0
    )  # (by the award: an entry's growth also holds an anniversary deduction the login applied)
    assert rewarded == dict.fromkeys(days, 1), rewarded
    bonuses = [a for e in entries for a in e["awards"] if a["rule"] == "monthly_bonus" and a["growth"] > 0]
    orders = sum(1 for e in entries if e["event_type"] == "order_completed")
    assert len(bonuses) == (1 if orders >= 3 else 0)
    anniversaries = [(e, a) for e in entries for a in e["awards"] if a["rule"] == "anniversary"]
    assert [a["reason"].split(": ")[0] for _e, a in anniversaries] == [ANNIVERSARY], anniversaries
    assert anniversaries[0][1]["growth"] == -1000
    # the events the jobs published are exactly the ledger's: an expiry per expire entry, a tier
    # change per anniversary that changed the tier (applied by the tier job or by an earn)
    expected = set()
    for entry, award in anniversaries:
        before, _, after = award["reason"].split(": ")[1].partition(" (")[0].partition(" -> ")
        if before != after:
            expected.add(("tier.changed", entry["entry_id"], 0))
    expected |= {("points.expired", e["entry_id"], -e["points"]) for e in entries if e["kind"] == "expire"}
    got = {
        (e.detail_type, e.detail["ledger_entry_id"], e.detail.get("points", 0))
        for e in published.values()
        if e.detail["member_id"] == member and e.detail_type != "points.expiring"
    }
    assert got == expected, member


def _check_table(
    items: list[dict[str, Any]], program: str, applied: dict[tuple[str, str], Sent], hammer: Hammer
) -> None:
    """The program's items are exactly what the 201 answers account for: a refused write left
    nothing (no request record, no order change), every outbox is empty."""
    requests, orders, other = set(), {}, Counter()
    for item in items:
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if pk != f"PROGRAM#{program}" and not pk.startswith(f"PROGRAM#{program}#"):
            continue
        rest = pk.removeprefix(f"PROGRAM#{program}")
        if rest.startswith("#MEMBER#") and "#REQUEST#" in rest:  # client keys: per member
            member, _, request = rest.removeprefix("#MEMBER#").partition("#REQUEST#")
            kind, _, key = request.partition("#")
            requests.add((member, kind, key))
        elif rest.startswith("#ORDER#"):  # order ids: per program, naming their member
            orders[(item["member_id"]["S"], rest.removeprefix("#ORDER#"))] = item
        elif rest.startswith("#MEMBER#"):
            other[sk.partition("#")[0]] += 1
        else:
            other[rest.partition("#")[2].partition("#")[0] or sk.partition("#")[0]] += 1
    expected_requests = {(sent.member, KINDS[route], key) for (route, key), sent in applied.items()}
    assert requests == expected_requests
    completed = {
        (sent.member, sent.body["attributes"]["order_id"]): sent
        for sent in applied.values()
        if sent.route == "events" and sent.body["type"] == "order_completed"
    }
    assert set(orders) == set(completed)
    refunds: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for sent in applied.values():
        if sent.route == "events" and sent.body["type"] == "order_refunded":
            refunds[(sent.member, sent.answer["order_id"])].append(sent.answer)
    for key, item in orders.items():
        answers = refunds.get(key, [])
        assert Decimal(item["refunded_amount"]["S"]) == sum(Decimal(a["refund_amount"]) for a in answers), key
        assert int(item["refunded_points"]["N"]) == sum(
            a["points_reversed"] + a["points_forgiven"] + a["points_lapsed"] for a in answers
        ), key
        assert int(item["refunded_growth"]["N"]) == sum(a["growth_reversed"] for a in answers), key
        assert Decimal(item["refunded_amount"]["S"]) <= Decimal(item["amount"]["S"]), key
    members = len(hammer.members) + COLD_MEMBERS
    # member snapshots, ledger entries, rate counters; the config (current + version 1), job progress
    # (and what reversals left of a redemption)
    assert set(other) - {"REDEMPTION"} == {"PROFILE", "LEDGER", "RATE", "CONFIG", "JOB"}, other  # no OUTBOX
    assert other["PROFILE"] == members and other["JOB"] == 2, other


def _shanghai_day(utc: str) -> str:
    return (datetime.fromisoformat(utc.replace("Z", "+00:00")) + timedelta(hours=8)).date().isoformat()
