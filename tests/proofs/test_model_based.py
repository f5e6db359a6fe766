"""Model-based test: the engine on DynamoDB Local and the reference model (``model.py``) receive
the same random sequences of operations; after every step they must agree.

Each run creates a program (a random valid config, or the default program read back through
the API) and a few members, then draws steps: events of every type at business times around
the request clock (some past the allowed clock skew), ``order_refunded`` (full, partial, too
much, unknown orders), redemptions (some backdated, some over the program's cap, some for
members that do not exist; some sent by the member with its own token: 403 where the program
does not allow it, 429 past the per-minute limit), redemption reversals, exact replays of
earlier requests, conflicting replays (same key, another body or member), clock advances
(lots pass their expiry; tier anniversaries fall due, applied by a later earn or by the job),
the daily jobs (the expiry sweep and the tier evaluation, in either order, at arbitrary times
or on the second of a reminder, expiry or anniversary), config reads and new config versions
(with and without a stale ``If-Match``).

Every answer is compared with the model's (status, body, error envelope); after every step
every member's snapshot and whole ledger must equal the model's; after every job run the
events the bus received (``tier.changed``, ``points.expired``, ``points.expiring``, by id and
detail) and the job's count of changed members must equal the model's; and the DESIGN.md
invariants are checked on what the engine returned, independently of the model.

When it fails, Hypothesis prints the shrunk steps: keep them as a regular test in
``test_regressions.py``.

Adding an operation: a method in ``model.Program`` and one ``@rule`` below that sends the
request and calls ``self.expect``; a job: a method in ``model.Program`` per member, run from
``run_jobs``.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from local import auth as local_auth
from shared.logic import DEFAULT_MEMBER_WRITES_PER_WINDOW as MEMBER_WRITES_PER_MINUTE
from tests.integration.conftest import Api, Reply
from tests.integration.jobs import events_to, published
from tests.integration.jobs import run as run_job
from tests.proofs.conftest import proof_settings
from tests.proofs.model import Member, Outcome, Program, normalized, text

MEMBERS = ("alice", "bob", "carol")
OUTCOMES: Counter[str] = Counter()
"""Answers the engine gave, across the run: the test checks the generators reached each kind."""
TIER_CODES = ("registered", "bronze", "silver", "gold")
ZONES = ("Asia/Shanghai", "UTC", "America/New_York", "Europe/London", "Pacific/Chatham", "Asia/Kathmandu")
STARTS = (
    datetime(2026, 11, 22, 4, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 15, 30, tzinfo=UTC),  # half an hour before Shanghai's new year
    datetime(2026, 3, 8, 6, 0, tzinfo=UTC),  # New York's spring-forward night
    datetime(2027, 1, 31, 23, 0, tzinfo=UTC),  # month ends: Jan 31 + 1 month clamps
)

BENEFIT = {"code": "free_shipping_coupons", "name": "Free-shipping coupons", "params": {"per_month": 2}}

# --- strategies -------------------------------------------------------------------------

decimal_text = st.sampled_from(["0", "0.5", "1", "1.25", "2", "3"])
amounts = st.one_of(
    st.sampled_from(["0", "0.0001", "0.99", "1", "19.99", "20", "20.00", "199.90", "1000"]),
    st.builds(
        lambda whole, cents: f"{whole}.{cents:02d}" if cents else str(whole),
        st.integers(0, 600),
        st.integers(0, 99),
    ),
)
prices = st.sampled_from(["0", "5", "19.99", "20", "20.01", "50.5", "300"])
# Business time relative to the request clock: mostly the past, a little the future (within
# and beyond the program's skew), clustered so day caps and month counts meet.
offsets = st.one_of(
    st.sampled_from([0, 1, 59, 300, 301, 3600, 86_400, 86_401, 31 * 86_400, -1, -61, -301]),
    st.integers(-400, 2 * 86_400),
    st.integers(0, 120 * 86_400),
)


@st.composite
def program_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid program config, every key present (the model reads the document as it is)."""
    rules: list[dict[str, Any]] = []
    has_orders = draw(st.booleans() | st.just(True))
    if has_orders:
        coefficients = draw(
            st.sampled_from(
                [
                    [],
                    [{"attribute": "account_type", "equals": "kol", "coefficient": "1.5"}],
                    [
                        {"attribute": "account_type", "equals": "kol", "coefficient": "1.5"},
                        {"attribute": "plus", "equals": "yes", "coefficient": "2.25"},
                    ],
                ]
            )
        )
        rules.append(
            {
                "event_type": "order_completed",
                "points_per_unit": draw(decimal_text),
                "growth_per_unit": draw(decimal_text),
                "growth_coefficients": coefficients,
                "pending_days": draw(st.sampled_from([0, 0, 0, 0, 0, 3, 15])),
            }
        )
    if draw(st.integers(0, 5)):
        rules.append(
            {
                "event_type": "login",
                "points": draw(st.integers(0, 3)),
                "growth": draw(st.sampled_from([0, 5, 7])),
                "per_local_day": draw(st.integers(1, 3)),
            }
        )
    for event_type in ("review_approved", "photo_review_approved"):
        if draw(st.integers(0, 5)):
            review: dict[str, Any] = {
                "event_type": event_type,
                "points": draw(st.integers(0, 5)),
                "growth": draw(st.sampled_from([0, 20])),
                "min_item_price": draw(st.sampled_from(["0", "20", "50.5"])),
            }
            if event_type == "photo_review_approved":
                review["max_rank"] = draw(st.sampled_from([1, 3, 10]))
            rules.append(review)
    bonus = None
    if has_orders and draw(st.booleans()):
        bonus = {
            "min_orders": draw(st.integers(1, 4)),
            "points": draw(st.sampled_from([0, 10, 30])),
            "growth": draw(st.sampled_from([0, 50])),
        }
    silver = draw(st.integers(20, 300))
    gold = silver + draw(st.integers(1, 600))
    tiers = [
        {"code": "registered", "name": "Registered", "min_growth": 0},
        {"code": "bronze", "name": "Bronze", "min_growth": 1, "points_multiplier": draw(st.sampled_from(["1", "1.1"]))},
        {
            "code": "silver",
            "name": "Silver",
            "min_growth": silver,
            "points_multiplier": draw(st.sampled_from(["1", "1.5"])),
            "validity_months": draw(st.sampled_from([1, 12])),
            "anniversary_deduction": 10,
        },
        {
            "code": "gold",
            "name": "Gold",
            "min_growth": gold,
            "points_multiplier": draw(st.sampled_from(["2", "2.5"])),
            "validity_months": 12,
            "anniversary_deduction": 100,
        },
    ]
    for tier in tiers:
        tier.setdefault("points_multiplier", "1")
        tier.setdefault("validity_months", None)
        tier.setdefault("anniversary_deduction", 0)
        tier["benefits"] = draw(st.sampled_from([[], [], [BENEFIT]]))
    tier_policy = {
        "qualifying_events": draw(
            st.sampled_from(
                [["order_completed"], ["order_completed"], ["order_completed", "login"], ["review_approved"]]
            )
        ),
        "inactive_tier": draw(st.sampled_from([None, None, "bronze", "silver"])),
    }
    expiry = draw(
        st.one_of(
            st.builds(lambda n: {"policy": "year_end", "years_after": n}, st.integers(0, 1)),
            st.builds(lambda n: {"policy": "rolling_days", "days": n}, st.integers(1, 40)),
            st.builds(lambda n: {"policy": "month_end", "months_after": n}, st.integers(0, 2)),
            st.just({"policy": "never"}),
        )
    )
    return {
        "name": "Model-based test program",
        "time_zone": draw(st.sampled_from(ZONES)),
        "currency": "CNY",
        "points_per_currency_unit": 100,
        "future_skew_seconds": draw(st.sampled_from([0, 60, 300])),
        "earning_rules": rules,
        "monthly_bonus": bonus,
        "tiers": tiers,
        "expiry": expiry,
        "max_points_per_redemption": draw(st.sampled_from([10_000_000, 10_000_000, 10_000_000, 250])),
        "tier_policy": tier_policy,
        "expiry_reminders": {"days_before": draw(st.sampled_from([[30, 7], [1]]))},
        "refunds": {"negative_balance": draw(st.sampled_from(["clamp", "allow"]))},
        "member_redemptions": draw(st.booleans()),
    }


member_attribute_sets = st.sampled_from(
    [
        {},
        {},
        {"account_type": "kol"},
        {"account_type": "regular"},
        {"plus": "yes"},
        {"channel_owner": "x"},
        {"account_type": None},  # null removes a name
        {"plus": None, "channel_owner": "y"},
    ]
)


# --- the machine ------------------------------------------------------------------------


TOKEN_KEY = bytes(range(32, 64))
"""Signs the members' tokens (the gateway checks them as API Gateway's JWT authorizer does)."""
JOB_ORDERS = st.sampled_from(["", "", "expiry", "tier", "expiry tier", "tier expiry"])
"""Jobs to run after a clock move (both run daily: the sweep at 00:05, the tier job at 00:10)."""


class LedgerMachine(RuleBasedStateMachine):
    api: Api  # set by the test
    events_file: Path  # where the local bus writes (set by the test)

    def __init__(self) -> None:
        super().__init__()
        self.run = uuid.uuid4().hex[:10]
        self.program_id = f"mbt-{self.run}"
        self.program: Program | None = None
        self.editable = True  # False for the default program: other tests read it
        self.now = STARTS[0]
        self.members = {name: Member(self.member_id(name)) for name in MEMBERS}
        self.sent: list[tuple[str, str, dict[str, Any]]] = []  # (route, member, body) of every write
        # (route, member name, key) -> first 201: client keys are scoped to the member they act on
        self.records: dict[tuple[str, str, str], tuple[str, str, Reply]] = {}
        self.counter = 0
        self.member_writes: Counter[tuple[str, int]] = Counter()
        self.program_updated_at: datetime | None = None
        self.dirty: set[str] = set()
        """Members whose snapshot may have changed since the last check: those a step wrote to
        (or tried to), all of them when the clock or the config moves. Teardown checks all."""

    def member_id(self, name: str) -> str:
        return f"{name}-{self.run}"

    def key(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.run}-{self.counter}"

    # --- talking to the engine --------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
        return self.api.call(method, f"/v1/programs/{self.program_id}{path}", body, headers=headers, at=self.now)

    def expect(self, reply: Reply, outcome: Outcome) -> None:
        """The engine's answer equals the model's: status and body, or status and error envelope."""
        assert reply.status == outcome.status, (reply.status, reply.body, outcome)
        if outcome.body is not None:
            got = _without_reasons(reply.body)
            assert got == outcome.body, _diff(got, outcome.body)
            return
        error = reply.body["error"]
        assert set(error) >= {"code", "message", "details"}, reply.body
        assert error["code"] == outcome.code, reply.body
        if outcome.field is not None:
            assert outcome.field in [detail.get("field") for detail in error["details"]], reply.body

    def write(self, route: str, name: str, body: dict[str, Any], by_member: bool = False) -> None:
        """Send a write and compare; replays and conflicts are decided from the records.
        ``by_member``: the member sends it with its own token (only redemptions), not a back end."""
        member = self.members[name]
        self.dirty.add(name)
        key_name = "event_id" if route == "events" else "redemption_id"
        key = body[key_name]
        path = f"/members/{member.member_id}/{route}"
        if by_member:
            token = local_auth.mint(
                TOKEN_KEY,
                local_auth.member_claims(self.api.manifest, member.member_id, [self.program_id]),
                int(self.now.timestamp()),
            )
            headers = {"Authorization": f"Bearer {token}"}
            secured = replace(
                self.api, auth=local_auth.LocalJwtAuthorizer.from_manifest(self.api.manifest, key=TOKEN_KEY)
            )
            reply = secured.call("POST", f"/v1/programs/{self.program_id}{path}", body, headers=headers, at=self.now)
        else:
            reply = self.call("POST", path, body)
        self.sent.append((route, name, body))
        kind = "refunds" if body.get("type") == "order_refunded" else "member " + route if by_member else route
        outcome = f"{kind} {reply.status} {reply.body['error']['code'] if 'error' in reply.body else ''}".strip()
        OUTCOMES[outcome] += 1
        event(outcome)
        if by_member and "occurred_at" in body:
            # A member's own write cannot choose its business time (invariant 9): refused before
            # anything else, not counted against its rate limit, nothing written.
            self.expect(reply, Outcome(403, code="BUSINESS_TIME_NOT_ALLOWED", field="occurred_at"))
            return
        if by_member:
            # Member-initiated writes are counted per member and minute of request time, before
            # anything else (replays too): past the limit, 429 and nothing written.
            window = (name, int(self.now.timestamp()) // 60)
            self.member_writes[window] += 1
            if self.member_writes[window] > MEMBER_WRITES_PER_MINUTE:
                self.expect(reply, Outcome(429, code="RATE_LIMITED"))
                return
        first = self.records.get((route, name, key))
        if first is not None:
            first_name, first_body, first_reply = first
            if first_name == name and first_body == json.dumps(body, sort_keys=True):
                # invariant 3: a replay returns the first response and changes nothing
                assert (reply.status, reply.body) == (200, first_reply.body)
            else:
                self.expect(reply, Outcome(409, code="IDEMPOTENCY_CONFLICT", field=key_name))
            return
        assert self.program is not None
        if by_member and not self.program.document["member_redemptions"]:
            self.expect(reply, Outcome(403, code="FORBIDDEN"))
            return
        occurred = body.get("occurred_at")
        occurred_at = _parse(occurred) if occurred else self.now
        if route == "events" and body["type"] == "order_refunded":
            outcome = self.program.refund(self.program_id, member, body, occurred_at, self.now)
        elif route == "events":
            order_id = body["attributes"].get("order_id") if body["type"] == "order_completed" else None
            elsewhere = any(order_id in other.orders for other in self.members.values() if other is not member)
            if elsewhere:
                OUTCOMES["events: an order id another member reported"] += 1
            outcome = self.program.earn(self.program_id, member, body, occurred_at, self.now, elsewhere)
        else:
            outcome = self.program.redeem(self.program_id, member, body, occurred_at, self.now)
        self.expect(reply, outcome)
        if reply.status == 201 and "anniversary_growth_deducted" in reply.body:
            OUTCOMES["events 201 with anniversaries"] += 1
        if reply.status == 201 and reply.body["member"]["points"]["pending"]:
            OUTCOMES[f"{route} 201 with pending points"] += 1
        if reply.status == 201 and kind == "refunds":
            for detail in ("negative_balance_added", "points_forgiven", "points_lapsed", "tier_change"):
                if reply.body[detail]:
                    OUTCOMES[f"refunds 201 with {detail}"] += 1
        if reply.status == 201:
            self.records[(route, name, key)] = (name, json.dumps(body, sort_keys=True), reply)

    def business_time(self, offset: int, local: bool) -> str:
        assert self.program is not None
        moment = self.now - timedelta(seconds=offset)
        return moment.astimezone(self.program.zone).isoformat() if local else text(moment) or ""

    # --- setup ------------------------------------------------------------------------

    @initialize(document=program_documents(), start=st.sampled_from(STARTS), use_default=st.integers(0, 4))
    def create_program(self, document: dict[str, Any], start: datetime, use_default: int) -> None:
        self.now = start
        if use_default == 0:
            # The default program, as the API shows it: the model reads that document.
            self.program_id = "default"
            self.editable = False
            reply = self.call("GET", "")
            assert reply.status == 200
            self.program = Program(reply.body["config"], reply.body["version"])
            return
        reply = self.call("PUT", "", document)
        assert (reply.status, reply.body["version"]) == (201, 1), reply.body
        self.program = Program(document, 1)
        self.program_updated_at = self.now

    # --- events -----------------------------------------------------------------------

    @rule(
        name=st.sampled_from(MEMBERS),
        amount=amounts,
        offset=offsets,
        local=st.booleans(),
        member_attributes=member_attribute_sets,
        currency=st.sampled_from([None, None, "CNY", "USD"]),
    )
    def order_completed(
        self, name: str, amount: str, offset: int, local: bool, member_attributes: dict, currency: str | None
    ) -> None:
        attributes: dict[str, Any] = {"order_id": self.key("o"), "settled_amount": amount, "sku": "ignored"}
        if currency:
            attributes["currency"] = currency
        body: dict[str, Any] = {
            "event_id": self.key("e"),
            "type": "order_completed",
            "occurred_at": self.business_time(offset, local),
            "attributes": attributes,
        }
        if member_attributes:
            body["member_attributes"] = member_attributes
        self.write("events", name, body)

    @rule(name=st.sampled_from(MEMBERS), offset=st.sampled_from([0, 30, 3600, 7200]) | offsets, local=st.booleans())
    def login(self, name: str, offset: int, local: bool) -> None:
        body = {"event_id": self.key("e"), "type": "login", "occurred_at": self.business_time(offset, local)}
        self.write("events", name, body)

    @rule(
        name=st.sampled_from(MEMBERS),
        price=prices,
        offset=offsets,
        photo_rank=st.none() | st.integers(1, 12),
    )
    def review(self, name: str, price: str, offset: int, photo_rank: int | None) -> None:
        attributes: dict[str, Any] = {"item_id": self.key("i"), "item_price": price}
        event_type = "review_approved"
        if photo_rank is not None:
            event_type = "photo_review_approved"
            attributes["rank"] = photo_rank
        body = {
            "event_id": self.key("e"),
            "type": event_type,
            "occurred_at": self.business_time(offset, False),
            "attributes": attributes,
        }
        self.write("events", name, body)

    # --- redemptions ------------------------------------------------------------------

    @rule(
        name=st.sampled_from(MEMBERS),
        points=st.one_of(st.integers(1, 40), st.integers(1, 600)),
        offset=st.none() | offsets,
        description=st.none() | st.just("checkout"),
        by_member=st.sampled_from([False, False, False, True]),
    )
    def redeem(self, name: str, points: int, offset: int | None, description: str | None, by_member: bool) -> None:
        """A redemption, sometimes backdated (back ends may; a member may not: 403)."""
        body: dict[str, Any] = {"redemption_id": self.key("r"), "points": points}
        if offset is not None:
            body["occurred_at"] = self.business_time(offset, False)
        if description is not None:
            body["description"] = description
        self.write("redemptions", name, body, by_member and offset is not None)

    @rule(
        name=st.sampled_from(MEMBERS),
        quarters=st.integers(1, 5),
        again=st.integers(0, 3),
        by_member=st.sampled_from([False, False, True]),
    )
    def redeem_share(self, name: str, quarters: int, again: int, by_member: bool) -> None:
        """Spend a share of what is available: a quarter to all of it (the boundary of
        invariant 1), or a quarter more than all of it; sometimes sent again at once, as it was
        (a replay) or with another amount (a conflict). Sometimes the member sends it with its
        own token: refused (403) where the program does not let members redeem, rate limited
        per minute."""
        available = self.members[name].available(self.now)
        if available > 0:
            points = max(1, available * quarters // 4)
            body = {"redemption_id": self.key("r"), "points": points}
            self.write("redemptions", name, body, by_member)
            if again == 0:
                self.write("redemptions", name, dict(body), by_member)
            elif again == 1:  # the same key, another body
                self.write("redemptions", name, {**body, "points": points + 1}, by_member)

    @rule(name=st.sampled_from(MEMBERS), points=st.integers(1, 30), times=st.sampled_from([1, 2, 11]))
    def member_redeems_in_a_burst(self, name: str, points: int, times: int) -> None:
        """The member redeems several times within one minute of request time: past the
        per-member limit the answer is 429 and nothing is written. A member with points redeems
        at most what it has (more is the other rules' business)."""
        available = self.members[name].available(self.now)
        if available > 0:
            points = max(1, min(points, available // max(times, 1)))
        for _ in range(times):
            self.write("redemptions", name, {"redemption_id": self.key("r"), "points": points}, by_member=True)

    @precondition(lambda self: any(route == "redemptions" for route, _name, _key in self.records))
    @rule(
        name=st.sampled_from(MEMBERS),
        pick=st.integers(0, 10_000),
        offset=st.none() | st.none() | offsets,
        owner=st.integers(0, 5),
        unknown=st.integers(0, 9),
        part=st.sampled_from([None, None, None, 1, 10, 0.5, "over"]),
        keyed=st.sampled_from([False, True, True]),
    )
    def reverse_redemption(
        self, name: str, pick: int, offset: int | None, owner: int, unknown: int, part: Any, keyed: bool
    ) -> None:
        """A redemption given back: usually the owner's and an applied one; sometimes another
        member's or an unknown id (404); backdated before the redemption (422); all that is
        left, or a part (``points``, with its own ``reversal_id`` or keyed by the redemption),
        sometimes more than is left (409); again (a replay, or with another body: 409)."""
        applied = sorted((n, key) for route, n, key in self.records if route == "redemptions")
        if not unknown:
            redemption_id = self.key("r")
        else:
            owner_name, redemption_id = applied[pick % len(applied)]
            if owner:
                name = owner_name
        body: dict[str, Any] = {}
        if offset is not None:
            body["occurred_at"] = self.business_time(offset, False)
        redemption = self.members[name].redemptions.get(redemption_id)
        left = sum(lot.points for lot in redemption.left) if redemption else 0
        if part == "over":
            body["points"] = left + 1
        elif isinstance(part, float):
            body["points"] = max(1, int(left * part))
        elif part is not None:
            body["points"] = part
        if keyed:
            body["reversal_id"] = self.key("v")
        self.reverse(name, redemption_id, body)
        if keyed and pick % 3 == 0:  # the same reversal again, as it was or with another body
            again = dict(body) if pick % 2 else {**body, "points": body.get("points", 0) + 1}
            self.reverse(name, redemption_id, again)

    def reverse(self, name: str, redemption_id: str, body: dict[str, Any]) -> Reply:
        """Send a reversal and compare; replays and conflicts are decided from the records."""
        member = self.members[name]
        self.dirty.add(name)
        reply = self.call("POST", f"/members/{member.member_id}/redemptions/{redemption_id}/reversal", body)
        outcome_name = f"reversal {reply.status} {reply.body['error']['code'] if 'error' in reply.body else ''}"
        OUTCOMES[outcome_name.strip()] += 1
        event(outcome_name.strip())
        key_name = "reversal_id" if "reversal_id" in body else "redemption_id"
        record_key = ("reversal", name, body.get("reversal_id") or redemption_id)
        sent = json.dumps({"redemption_id": redemption_id, **body}, sort_keys=True)
        first = self.records.get(record_key)
        if first is not None:
            if first[1] == sent:
                assert (reply.status, reply.body) == (200, first[2].body)
                return reply
            self.expect(reply, Outcome(409, code="IDEMPOTENCY_CONFLICT", field=key_name))
            return reply
        assert self.program is not None
        occurred_at = _parse(body["occurred_at"]) if "occurred_at" in body else self.now
        self.expect(reply, self.program.reverse(self.program_id, member, redemption_id, body, occurred_at, self.now))
        if reply.status == 201:
            self.records[record_key] = (name, sent, reply)
            if reply.body["points_to_refunds"]:
                OUTCOMES["reversal 201 paying a refund"] += 1
            if reply.body["points_left"]:
                OUTCOMES["reversal 201 partial"] += 1
        return reply

    @precondition(lambda self: any(self.members[name].orders for name in MEMBERS))
    @rule(
        name=st.sampled_from(MEMBERS),
        pick=st.integers(0, 10_000),
        share=st.sampled_from(
            ["all", "all", "whole", "quarter", "quarter", "half", "three_quarters", "tiny", "zero", "over"]
        ),
        which=st.sampled_from(["own"] * 6 + ["unknown", "other", "completed_again"]),
        recent=st.booleans(),
        offset=st.sampled_from([0, 0, 60, 3600, 86_400, 20 * 86_400]) | offsets,
        currency=st.sampled_from([None] * 6 + ["CNY", "USD"]),
        rest=st.sampled_from([None, None, 0, 3600, 40 * 86_400]),
    )
    def order_refunded(
        self,
        name: str,
        pick: int,
        share: str,
        which: str,
        recent: bool,
        offset: int,
        currency: str | None,
        rest: int | None,
    ) -> None:
        """A refund of a completed order: all that is left (no amount), the whole amount, a
        share of it, a tiny or a zero amount, more than the order; of an unknown order or
        another member's (404); or the same order reported completed again (409). Sometimes
        the rest of it follows (``rest``: its business time offset), or after all of it a 409."""
        owners = [n for n in MEMBERS if self.members[n].orders]
        if not self.members[name].orders:
            name = owners[pick % len(owners)]
        orders = list(self.members[name].orders)  # oldest first
        if recent:  # one of the newest: its points not yet expired, maybe still pending
            orders = orders[-2:]
        order_id = orders[pick % len(orders)]
        amount = self.members[name].orders[order_id].amount
        if which == "completed_again":
            body: dict[str, Any] = {
                "event_id": self.key("e"),
                "type": "order_completed",
                "occurred_at": self.business_time(offset, False),
                "attributes": {"order_id": order_id, "settled_amount": str(amount)},
            }
            self.write("events", name, body)
            return
        if which == "unknown":
            order_id = self.key("o")
        elif which == "other":
            name = MEMBERS[(MEMBERS.index(name) + 1 + pick % 2) % len(MEMBERS)]
        attributes: dict[str, Any] = {"order_id": order_id}
        quarters = {"quarter": 1, "half": 2, "three_quarters": 3}
        if share == "whole":
            attributes["refund_amount"] = str(amount)
        elif share in quarters:
            part = (amount * quarters[share] / 4).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
            attributes["refund_amount"] = str(part)
        elif share == "tiny":
            attributes["refund_amount"] = "0.0001"
        elif share == "zero":
            attributes["refund_amount"] = "0"
        elif share == "over":
            attributes["refund_amount"] = str(amount + 1)
        if currency:
            attributes["currency"] = currency
        body = {
            "event_id": self.key("e"),
            "type": "order_refunded",
            "occurred_at": self.business_time(offset, False),
            "attributes": attributes,
        }
        self.write("events", name, body)
        if rest is not None and which == "own":
            body = {
                "event_id": self.key("e"),
                "type": "order_refunded",
                "occurred_at": self.business_time(rest, False),
                "attributes": {"order_id": order_id},
            }
            self.write("events", name, body)

    @rule(
        name=st.sampled_from(MEMBERS),
        amount=st.sampled_from(["20", "55.55", "199.90", "1000"]),
        offset=st.sampled_from([0, 3600, 86_400, 20 * 86_400]),
        spend=st.sampled_from([None, "all", "all", "future"]),
        share=st.sampled_from([None, "0.5", "0.25", "1"]),
        again=st.sampled_from([None, "replay", "reported", "commute", "commute in part"]),
    )
    def complete_spend_refund(
        self, name: str, amount: str, offset: int, spend: str | None, share: str | None, again: str | None
    ) -> None:
        """An order, (sometimes) everything available spent, then the order refunded (all of it, or a
        share): the points already spent are forgiven or become a negative balance, per policy.
        ``again``: the order's completion then sent again as it was (a replay, not a 409), or
        reported again under a new event_id (409 ``ORDER_ALREADY_REPORTED``). Or (``commute``)
        the same on twin members, refund and reversal in either order (invariant 8)."""
        assert self.program is not None
        if again is not None and again.startswith("commute"):
            part = "half" if again == "commute in part" else None
            spent = {None: "half", "all": "all", "future": "one"}[spend]
            self.refund_and_reversal_commute(amount, spent, share, part)
            return
        order_id = self.key("o")
        order = {"order_id": order_id, "settled_amount": amount}
        occurred_at = self.business_time(offset, False)
        completed = {
            "event_id": self.key("e"),
            "type": "order_completed",
            "occurred_at": occurred_at,
            "attributes": order,
        }
        self.write("events", name, completed)
        available = self.members[name].available(self.now)
        if spend and available > 0:  # all of it (422 over the program's cap), or too far ahead (422)
            redemption: dict[str, Any] = {"redemption_id": self.key("r"), "points": available}
            if spend == "future":
                redemption["occurred_at"] = self.business_time(-3601, False)
            self.write("redemptions", name, redemption)
        attributes: dict[str, Any] = {"order_id": order_id}
        if share is not None:
            attributes["refund_amount"] = str((Decimal(amount) * Decimal(share)).quantize(Decimal("0.01")))
        body = {
            "event_id": self.key("e"),
            "type": "order_refunded",
            "occurred_at": text(self.now),
            "attributes": attributes,
        }
        self.write("events", name, body)
        if again == "replay":
            self.write("events", name, copy.deepcopy(completed))
        elif again == "reported":
            self.write("events", name, {**copy.deepcopy(completed), "event_id": self.key("e")})

    def refund_and_reversal_commute(self, amount: str, spend: str, share: str | None, part: str | None) -> None:
        """DESIGN invariant 8: two twin members complete the same order and redeem the same
        points; one then has the order refunded and the redemption reversed, the other the same
        two in the other order. Both must end in the same state (and each step agrees with the
        model as always)."""
        assert self.program is not None
        twins = []
        for side in ("a", "b"):
            name = f"twin{self.counter}{side}"
            self.members[name] = Member(self.member_id(name))
            twins.append(name)
        completions = {}
        for name in twins:
            completions[name] = {
                "event_id": self.key("e"),
                "type": "order_completed",
                "occurred_at": text(self.now),
                "attributes": {"order_id": self.key("o"), "settled_amount": amount},
            }
            self.write("events", name, completions[name])
        # the first twin's order reported for the second too: an order id is unique in the program
        self.write("events", twins[1], copy.deepcopy(completions[twins[0]]))
        available = self.members[twins[0]].available(self.now)
        if available <= 0:
            return
        points = {"all": available, "half": max(1, available // 2), "one": 1}[spend]
        redemption_ids = {}
        for name in twins:
            redemption_ids[name] = self.key("r")
            self.write("redemptions", name, {"redemption_id": redemption_ids[name], "points": points})

        def refund(name: str) -> None:
            order_id = next(iter(self.members[name].orders))
            attributes: dict[str, Any] = {"order_id": order_id}
            if share is not None:
                attributes["refund_amount"] = str((Decimal(amount) * Decimal(share)).quantize(Decimal("0.01")))
            self.write(
                "events",
                name,
                {
                    "event_id": self.key("e"),
                    "type": "order_refunded",
                    "occurred_at": text(self.now),
                    "attributes": attributes,
                },
            )

        def reverse(name: str) -> None:
            body: dict[str, Any] = {}
            if part == "half":
                body = {"points": max(1, points // 2), "reversal_id": self.key("v")}
            self.reverse(name, redemption_ids[name], body)

        refund(twins[0])
        reverse(twins[0])
        reverse(twins[1])
        refund(twins[1])
        first, second = (self.program.snapshot(self.program_id, self.members[n], self.now) for n in twins)
        engine = [self.call("GET", f"/members/{self.members[n].member_id}").body for n in twins]
        for snapshot in (first, second, *engine):
            snapshot.pop("member_id"), snapshot.pop("version")
        assert engine[0] == engine[1], _diff(engine[0], engine[1])
        assert first == second, _diff(first, second)
        OUTCOMES["refund and reversal commuted"] += 1

    # --- replays ----------------------------------------------------------------------

    @precondition(lambda self: bool(self.sent))
    @rule(
        route=st.sampled_from(["events", "redemptions", "redemptions"]),
        pick=st.integers(0, 10_000),
        applied=st.booleans(),
    )
    def replay(self, route: str, pick: int, applied: bool) -> None:
        """An earlier write sent again as it was: 200 with the first answer if it had applied,
        evaluated afresh if it had been refused (nothing was recorded then)."""
        records = sorted(key for key in self.records if key[0] == route)
        sent = [write for write in self.sent if write[0] == route]
        if applied and records:
            name, body_text, _reply = self.records[records[pick % len(records)]]
            self.write(route, name, json.loads(body_text))
        elif sent:
            _route, name, body = sent[pick % len(sent)]
            self.write(route, name, copy.deepcopy(body))

    @precondition(lambda self: bool(self.records))
    @rule(
        route=st.sampled_from(["events", "redemptions"]),
        pick=st.integers(0, 10_000),
        change=st.sampled_from(["member", "body"]),
    )
    def conflicting_replay(self, route: str, pick: int, change: str) -> None:
        """An applied key with another body: 409, nothing changes. With ``member``, the same
        request is first sent for another member: keys are scoped to the member, so it is that
        member's own write (an order id, though, is unique in the program: 409
        ``ORDER_ALREADY_REPORTED``)."""
        records = sorted(key for key in self.records if key[0] == route)
        if not records:
            return
        name, body_text, _reply = self.records[records[pick % len(records)]]
        body = json.loads(body_text)
        if change == "member":
            names = list(self.members)  # the twins too
            self.write(route, names[(names.index(name) + 1) % len(names)], copy.deepcopy(body))
        if route == "redemptions":
            body["points"] += 1
        elif body["type"] == "order_completed":
            body["attributes"]["settled_amount"] = str(int(Decimal(body["attributes"]["settled_amount"])) + 1)
        else:
            body["occurred_at"] = text(_parse(body["occurred_at"]) - timedelta(seconds=1))
        self.write(route, name, body)

    # --- time and config --------------------------------------------------------------

    @rule(
        seconds=st.one_of(
            st.integers(1, 7200),
            st.integers(1, 40).map(lambda d: d * 86_400 + 1),
            st.integers(60, 420).map(lambda d: d * 86_400),
        ),
        anniversary=st.none()
        | st.tuples(
            st.integers(0, 2),
            st.sampled_from([0, 1, 3600, 3 * 86_400, 400 * 86_400]),
            st.sampled_from([None, "1", "250"]),
        ),
        jobs=JOB_ORDERS,
    )
    def advance_clock(self, seconds: int, anniversary: tuple[int, int, str | None] | None, jobs: str) -> None:
        """Request time moves on: lots past their expiry leave ``available`` before any sweep;
        then the daily jobs may run at the new time. Or (``anniversary``) it moves to a member's
        next tier evaluation, and that member earns, or the tier job runs."""
        if anniversary is not None and any(m.tier_valid_until for m in self.members.values()):
            self.reach_anniversary(*anniversary)
            return
        self.now += timedelta(seconds=seconds)
        self.dirty.update(self.members)
        self.run_jobs(jobs)

    @precondition(lambda self: self.editable and any(m.tier_valid_until for m in self.members.values()))
    @rule(
        pick=st.integers(0, 2),
        past=st.sampled_from([0, 1, 3600, 40 * 86_400, 400 * 86_400, 800 * 86_400]),
        jobs=st.sampled_from(["tier", "expiry tier", "tier expiry"]),
    )
    def tier_job_at_anniversary(self, pick: int, past: int, jobs: str) -> None:
        """Request time moves to (or past) a member's next tier evaluation and the daily jobs
        run: deductions, renewals, downgrades (several anniversaries at once when far past)."""
        self.to_anniversary(pick, past)
        self.run_jobs(jobs)

    def to_anniversary(self, pick: int, past: int) -> str:
        """Move the clock ``past`` seconds beyond a member's next tier evaluation; its name."""
        due = sorted((m.tier_valid_until, name) for name, m in self.members.items() if m.tier_valid_until)
        moment, name = due[pick % len(due)]
        moment += timedelta(seconds=past)
        if moment > self.now:
            self.now = moment
            self.dirty.update(self.members)
        return name

    @precondition(lambda self: self.editable)
    @rule(pick=st.integers(0, 2), past=st.sampled_from([0, 0, 1, 3600, 86_400]), jobs=JOB_ORDERS)
    def reach_expiry_action(self, pick: int, past: int, jobs: str) -> None:
        """Request time moves to (just past) a member's next reminder or expiry instant, and
        the jobs run then: a reminder window opening, a batch expiring, on the second."""
        assert self.program is not None
        due = sorted(
            (moment, name)
            for name, member in self.members.items()
            if (moment := self.program.next_expiry_action(member)) is not None
        )
        if not due:
            return
        moment = due[pick % len(due)][0] + timedelta(seconds=past)
        if moment > self.now:
            self.now = moment
            self.dirty.update(self.members)
        self.run_jobs(jobs or "expiry")

    def reach_anniversary(self, pick: int, past: int, amount: str | None) -> None:
        """Request time moves to (just past) a member's next tier evaluation and the member
        reports an event then (an order, or a login): the earn applies every anniversary due
        first (deductions, renewals, downgrades) in the same ledger entry."""
        name = self.to_anniversary(pick, past)
        body: dict[str, Any] = {"event_id": self.key("e"), "type": "login", "occurred_at": text(self.now)}
        if amount is not None:
            body["type"] = "order_completed"
            body["attributes"] = {"order_id": self.key("o"), "settled_amount": amount}
        self.write("events", name, body)
        if self.members[name].outbox:  # a tier change the earn applied: the tier job publishes it
            self.run_jobs("tier")

    def run_jobs(self, jobs: str) -> None:
        """Run each job as its schedule fires it, at the request clock: the events the bus got
        and every member's snapshot and ledger must equal the model's. Only on a program of the
        run's own (other tests' members share the default program)."""
        assert self.program is not None
        if not self.editable:
            return
        for job in jobs.split():
            seen = len(published(self.events_file, self.program_id))
            reports = run_job(self.api, job, self.program_id, self.now)
            got = sorted((e["detail"] for e in published(self.events_file, self.program_id)[seen:]),
                         key=lambda d: d["event_id"])  # fmt: skip
            for envelope in published(self.events_file, self.program_id)[seen:]:
                assert envelope["id"] == envelope["detail"]["event_id"]
                assert envelope["detail-type"] == envelope["id"].split(":")[0]
            expected: list[dict[str, Any]] = []
            changed = 0
            for member in self.members.values():  # the twins too
                version = member.version
                if job == "tier":
                    expected += member.outbox
                    OUTCOMES["tier.changed applied by an earn"] += len(member.outbox)
                    member.outbox = []
                    expected += self.program.evaluate_tier(self.program_id, member, self.now)
                else:
                    expected += self.program.sweep(self.program_id, member, self.now)
                changed += member.version - version
            assert sum(report["failed"] for report in reports) == 0, reports
            assert sum(report["changed"] for report in reports) == changed, (reports, changed)
            assert got == sorted(expected, key=lambda d: d["event_id"]), _diff(got, expected)
            OUTCOMES[f"{job} job changed members"] += changed
            for detail in got:
                OUTCOMES[detail["event_id"].split(":")[0]] += 1
            event(f"{job} job: {changed} changed")

    @rule()
    def read_program(self) -> None:
        assert self.program is not None
        reply = self.call("GET", "")
        assert reply.status == 200
        assert reply.body["version"] == self.program.version
        assert reply.body["program_id"] == self.program_id
        assert normalized(reply.body["config"]) == normalized(self.program.document)
        if self.program_updated_at is not None:
            assert reply.body["updated_at"] == text(self.program_updated_at)

    @precondition(lambda self: self.editable)
    @rule(document=program_documents(), same=st.booleans(), if_match=st.sampled_from(["none", "current", "stale"]))
    def put_program(self, document: dict[str, Any], same: bool, if_match: str) -> None:
        """A new config version; the current document again (200, same version, nothing
        written); or either with a stale ``If-Match`` (409, nothing written)."""
        assert self.program is not None
        if same:
            document = copy.deepcopy(self.program.document)
        headers = {}
        if if_match != "none":
            version = self.program.version - (1 if if_match == "stale" else 0)
            headers["if-match"] = f'"{version}"'
        reply = self.call("PUT", "", document, headers=headers)
        if if_match == "stale":
            self.expect(reply, Outcome(409, code="VERSION_CONFLICT", field="If-Match"))
            return
        assert reply.status == 200, reply.body
        if normalized(document) != normalized(self.program.document):
            self.program = Program(document, self.program.version + 1)
            self.program_updated_at = self.now
            self.dirty.update(self.members)
        assert reply.body["version"] == self.program.version
        assert reply.body["updated_at"] == text(self.program_updated_at)

    # --- after every step -------------------------------------------------------------

    @invariant()
    def members_agree(self) -> None:
        """Every member a step may have changed: snapshot and whole ledger equal the model's."""
        if self.program is None:
            return
        for name in sorted(self.dirty):
            self.compare_member(name)
        self.dirty.clear()

    def teardown(self) -> None:
        if self.program is not None:
            for name in self.members:
                self.compare_member(name)

    def compare_member(self, name: str) -> None:
        assert self.program is not None
        member = self.members[name]
        reply = self.call("GET", f"/members/{member.member_id}")
        if not member.exists:
            self.expect(reply, Outcome(404, code="MEMBER_NOT_FOUND"))
            return
        assert reply.status == 200
        expected = self.program.snapshot(self.program_id, member, self.now)
        assert reply.body == expected, (name, _diff(reply.body, expected))
        ledger = self.ledger(member.member_id)
        entries = [_without_reasons(entry) for entry in ledger]
        assert entries == list(reversed(member.ledger)), (name, _diff(entries, list(reversed(member.ledger))))
        self.design_invariants(reply.body, ledger)

    def ledger(self, member_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        query = "?limit=100"
        while True:
            page = self.call("GET", f"/members/{member_id}/ledger{query}")
            assert page.status == 200
            entries.extend(page.body["entries"])
            if not page.body["next_cursor"]:
                return entries
            query = f"?limit=100&cursor={page.body['next_cursor']}"

    @staticmethod
    def design_invariants(snapshot: dict[str, Any], ledger: list[dict[str, Any]]) -> None:
        """DESIGN.md invariants on what the engine returned, whatever the model says."""
        points = snapshot["points"]
        # 1. nothing below zero but a refund's negative balance (policy "allow"): the balance is
        # the lots minus it
        debt = points["negative_balance"]
        assert debt >= 0 and points["balance"] + debt >= 0 and points["available"] >= 0
        assert points["available"] <= points["balance"] + debt
        assert sum(lot["points"] for lot in points["expiring"]) <= points["balance"] + debt
        # 2. balance = sum of the ledger; the ledger is a gapless chain ending at the snapshot
        oldest_first = list(reversed(ledger))
        assert [e["entry_id"] for e in oldest_first] == list(range(1, len(ledger) + 1))
        assert len(ledger) <= snapshot["version"]  # a sweep that only sends reminders writes no entry
        running_points = running_growth = 0
        for entry in oldest_first:
            running_points += entry["points"]
            running_growth += entry["growth"]
            assert (entry["balance_after"], entry["growth_after"]) == (running_points, running_growth)
        assert (running_points, running_growth) == (points["balance"], snapshot["growth"])
        # 3. every client key took effect once
        keys = [(e["kind"], e.get("event_id") or e.get("reversal_id") or e.get("redemption_id")) for e in ledger
                if e["kind"] not in ("tier_evaluation", "expire")]  # fmt: skip  # the jobs' entries have no client key
        assert len(keys) == len(set(keys))
        # 4. a spend draws soonest-expiring lots first (never-expiring last)
        for entry in oldest_first:
            if entry["kind"] == "redeem":
                expiries = [lot["expires_at"] or "~" for lot in entry["lots"]]
                assert expiries == sorted(expiries) and sum(lot["points"] for lot in entry["lots"]) == -entry["points"]
            if entry["kind"] == "refund":  # what it took from lots, plus any negative balance
                assert entry["points"] <= 0 and entry["growth"] <= 0
                assert sum(lot["points"] for lot in entry["lots"]) <= -entry["points"]


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _diff(engine: Any, model: Any, path: str = "") -> list[str]:
    """Where two JSON documents differ (engine value, then model value): for failure messages."""
    if isinstance(engine, dict) and isinstance(model, dict):
        return [
            d
            for key in sorted(set(engine) | set(model), key=str)
            for d in _diff(engine.get(key, "<absent>"), model.get(key, "<absent>"), f"{path}.{key}")
        ]
    if isinstance(engine, list) and isinstance(model, list) and len(engine) == len(model):
        return [d for i, (a, b) in enumerate(zip(engine, model, strict=True)) for d in _diff(a, b, f"{path}[{i}]")]
    return [] if engine == model else [f"{path}: engine {engine!r} model {model!r}"]


def _without_reasons(body: Any) -> Any:
    """``body`` with each award's free-text ``reason`` dropped (the model decides amounts, not prose)."""
    if isinstance(body, dict):
        return {
            key: [{k: v for k, v in a.items() if k != "reason"} for a in value]
            if key == "awards"
            else _without_reasons(value)
            for key, value in body.items()
        }
    if isinstance(body, list):
        return [_without_reasons(value) for value in body]
    return body


BREADTH = (
    "events 201",
    "events 200",
    "events 409 IDEMPOTENCY_CONFLICT",
    "events 422 VALIDATION_ERROR",
    "redemptions 201",
    "redemptions 200",
    "redemptions 404 MEMBER_NOT_FOUND",
    "redemptions 409 INSUFFICIENT_POINTS",
    "redemptions 409 IDEMPOTENCY_CONFLICT",
    "redemptions 422 VALIDATION_ERROR",
    "refunds 201",
    "refunds 404 ORDER_NOT_FOUND",
    "refunds 409 REFUND_EXCEEDS_ORDER",
    "refunds 422 VALIDATION_ERROR",
    "events 409 ORDER_ALREADY_REPORTED",
    "events: an order id another member reported",
    "reversal 201",
    "reversal 201 partial",
    "reversal 409 REVERSAL_EXCEEDS_REDEMPTION",
    "reversal 201 paying a refund",
    "refund and reversal commuted",
    "member redemptions 403 BUSINESS_TIME_NOT_ALLOWED",
    "member redemptions 201",
    "member redemptions 403 FORBIDDEN",
    "member redemptions 429 RATE_LIMITED",
    "tier job changed members",
    "expiry job changed members",
    "tier.changed",
    "tier.changed applied by an earn",
    "points.expired",
    "points.expiring",
)
"""Every kind of answer the generators must reach, or agreement proves little."""
TOP_UPS = 3
"""Runs of 20 fresh random examples added when the derandomized run missed a rare outcome: a
rule's odds shift with every edit of the machine, the coverage should not."""


def test_engine_agrees_with_the_model(api: Api, tmp_path: Path) -> None:
    LedgerMachine.api = api
    OUTCOMES.clear()
    with events_to(tmp_path / "events.jsonl") as events_file:
        LedgerMachine.events_file = events_file
        run_state_machine_as_test(LedgerMachine, settings=proof_settings(60, stateful_step_count=40))
        for _ in range(TOP_UPS):
            if all(OUTCOMES[outcome] for outcome in BREADTH):
                break
            # Agreement failures here are as real as in the first run: every step is checked.
            top_up = proof_settings(20, stateful_step_count=40, derandomize=False, database=None)
            run_state_machine_as_test(LedgerMachine, settings=top_up)
    print(dict(OUTCOMES))
    for outcome in BREADTH:
        assert OUTCOMES[outcome] > 0, (
            f"breadth, not agreement: no case reached {outcome!r} (every step agreed with the model). "
            "A PROOFS_RANDOM=1 run can miss a rare outcome; rerun it or raise PROOFS_SCALE.",
            sorted(OUTCOMES.items()),
        )
