"""A reference model of the program rules, for the model-based test.

Written from DESIGN.md, the README and the program config document alone: nothing here
imports ``shared`` (the engine's rules, clock or config classes), so an engine bug cannot be
copied into the expectation. It is deliberately plain (lists, dicts, ``Fraction``): slow and
obvious beats fast and clever here.

What it covers today: the four event types (order amounts, tier multipliers and growth
coefficients, the monthly bonus, login day caps, review thresholds, photo-review ranks), points
lots and every expiry policy, spends soonest-expiring first, immediate tier upgrades, member
snapshots as of any request time, ledgers, idempotent replays and conflicting replays, program
config versions.

Extension point: an operation the engine gains (``order_refunded``, a redemption reversal, the
tier and expiry jobs) becomes one method here that returns ``Outcome`` and updates ``Member``,
plus one rule in ``test_model_based.LedgerMachine`` sending the request. ``Member.ledger``
entries and the snapshot already carry everything a reversal or a sweep changes.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

LOGIN_DAYS_KEPT = 62
"""Documented retention: login counts are kept for the newest 62 program-local days."""
MONTHS_KEPT = 24
"""Documented retention: monthly order counts are kept for the newest 24 program-local months."""


def text(moment: datetime | None) -> str | None:
    """RFC 3339 UTC with ``Z`` (the model only ever uses whole seconds)."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    assert moment.microsecond == 0, "the model works in whole seconds"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value: Any) -> Fraction:
    """A config or request number (decimal string or int) as an exact fraction."""
    return Fraction(Decimal(str(value)))


def normalized(document: Any) -> Any:
    """A JSON document with every decimal-looking string and every int as a ``Decimal``.

    The engine echoes ``"1.50"`` as ``"1.5"`` and ``1`` as ``"1"``; the values are what must agree.
    """
    if isinstance(document, dict):
        return {key: normalized(value) for key, value in document.items()}
    if isinstance(document, list):
        return [normalized(value) for value in document]
    if isinstance(document, bool) or document is None:
        return document
    if isinstance(document, int):
        return Decimal(document).normalize()
    if isinstance(document, str):
        try:
            return Decimal(document).normalize()
        except ArithmeticError:
            return document
    return document


@dataclass
class Lot:
    expires_at: datetime | None
    points: int

    def view(self) -> dict[str, Any]:
        return {"points": self.points, "expires_at": text(self.expires_at)}

    def live_at(self, moment: datetime) -> bool:
        return self.points > 0 and (self.expires_at is None or self.expires_at > moment)


def _soonest_first(lot: Lot) -> tuple[bool, datetime]:
    return (lot.expires_at is None, lot.expires_at or datetime.min.replace(tzinfo=UTC))


@dataclass
class Member:
    member_id: str
    version: int = 0
    growth: int = 0
    balance: int = 0
    lots: list[Lot] = field(default_factory=list)
    tier: str | None = None
    tier_since: datetime | None = None
    tier_valid_until: datetime | None = None
    login_days: dict[str, int] = field(default_factory=dict)
    months: dict[str, list[Any]] = field(default_factory=dict)  # month -> [orders, bonus given]
    attributes: dict[str, str] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    """Entries oldest first, in the shape the ledger route shows them."""

    @property
    def exists(self) -> bool:
        return self.version > 0

    def available(self, moment: datetime) -> int:
        return sum(lot.points for lot in self.lots if lot.live_at(moment))


@dataclass
class Outcome:
    """What the engine must answer: a status and either a body or an error code (and field)."""

    status: int
    body: dict[str, Any] | None = None
    code: str | None = None
    field: str | None = None


class Program:
    """One program config document, read as plain JSON (what ``GET /v1/programs/{id}`` shows)."""

    def __init__(self, document: dict[str, Any], version: int) -> None:
        self.document = document
        self.version = version
        self.zone = ZoneInfo(document["time_zone"])
        self.rules = {rule["event_type"]: rule for rule in document["earning_rules"]}
        self.tiers = document["tiers"]

    # --- calendar, in the program's time zone ---------------------------------------------

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def midnight(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=self.zone).astimezone(UTC)

    def months_later(self, moment: datetime, months: int) -> datetime:
        """The same local wall time ``months`` calendar months later, clamped to the month's end."""
        local = moment.astimezone(self.zone)
        index = local.year * 12 + local.month - 1 + months
        year, month = index // 12, index % 12 + 1
        day = min(local.day, calendar.monthrange(year, month)[1])
        return local.replace(year=year, month=month, day=day).astimezone(UTC)

    def expiry(self, earned_at: datetime) -> datetime | None:
        """When points earned at ``earned_at`` stop being spendable (DESIGN: "Points expiry")."""
        policy = self.document["expiry"]
        day = self.local_day(earned_at)
        kind = policy["policy"]
        if kind == "year_end":  # earned in year Y: gone when year Y + years_after ends
            return self.midnight(date(day.year + policy["years_after"] + 1, 1, 1))
        if kind == "month_end":  # gone when month M + months_after ends
            index = day.year * 12 + day.month - 1 + policy["months_after"] + 1
            return self.midnight(date(index // 12, index % 12 + 1, 1))
        if kind == "rolling_days":  # earned on day D: gone when day D + days ends
            return self.midnight(day + timedelta(days=policy["days"] + 1))
        assert kind == "never", kind
        return None

    # --- tiers ----------------------------------------------------------------------------

    def tier(self, code: str | None) -> dict[str, Any]:
        for tier in self.tiers:
            if tier["code"] == code:
                return dict(tier)
        return dict(self.tiers[0])  # a code the config no longer has reads as the entry tier

    def rank(self, code: str) -> int:
        codes = [tier["code"] for tier in self.tiers]
        return codes.index(code) if code in codes else 0

    def reached(self, growth: int) -> dict[str, Any]:
        return dict([tier for tier in self.tiers if growth >= int(tier["min_growth"])][-1])

    # --- views ----------------------------------------------------------------------------

    def snapshot(self, program_id: str, member: Member, now: datetime) -> dict[str, Any]:
        tier = self.tier(member.tier)
        expiring = sorted((lot for lot in member.lots if lot.live_at(now) and lot.expires_at), key=_soonest_first)
        return {
            "program_id": program_id,
            "member_id": member.member_id,
            "tier": {
                "code": tier["code"],
                "name": tier["name"],
                "since": text(member.tier_since),
                "valid_until": text(member.tier_valid_until),
            },
            "growth": member.growth,
            "points": {
                "balance": member.balance,
                "available": member.available(now),
                "pending": 0,
                "expiring": [lot.view() for lot in expiring],
            },
            "attributes": dict(member.attributes),
            "version": member.version,
            "as_of": text(now),
        }

    # --- earning --------------------------------------------------------------------------

    def _order(self, member: Member, attributes: dict[str, Any], occurred_at: datetime) -> list[dict[str, Any]]:
        rule = self.rules["order_completed"]
        amount = number(attributes["settled_amount"])
        multiplier = number(self.tier(member.tier).get("points_multiplier", "1"))
        points = math.floor(math.floor(amount) * number(rule["points_per_unit"]) * multiplier)
        coefficients = [
            number(c["coefficient"])
            for c in rule["growth_coefficients"]
            if member.attributes.get(c["attribute"]) == c["equals"]
        ]
        coefficient = max(coefficients, default=Fraction(1))
        growth = math.floor(amount * number(rule["growth_per_unit"]) * coefficient)
        awards = [{"rule": "order_completed", "points": points, "growth": growth}]

        month = occurred_at.astimezone(self.zone).strftime("%Y-%m")
        if member.months and month < min(member.months) and len(member.months) >= MONTHS_KEPT:
            awards.append({"rule": "monthly_bonus", "points": 0, "growth": 0})
            return awards
        activity = member.months.setdefault(month, [0, False])
        activity[0] += 1
        bonus = self.document.get("monthly_bonus")
        if bonus is not None and not activity[1] and activity[0] >= bonus["min_orders"]:
            activity[1] = True
            awards.append({"rule": "monthly_bonus", "points": bonus["points"], "growth": bonus["growth"]})
        for old in sorted(member.months)[:-MONTHS_KEPT]:
            del member.months[old]
        return awards

    def _login(self, member: Member, occurred_at: datetime) -> list[dict[str, Any]]:
        rule = self.rules["login"]
        day = self.local_day(occurred_at).isoformat()
        if member.login_days and len(member.login_days) >= LOGIN_DAYS_KEPT and day < min(member.login_days):
            return [{"rule": "login", "points": 0, "growth": 0}]
        member.login_days[day] = member.login_days.get(day, 0) + 1
        count = member.login_days[day]
        for old in sorted(member.login_days)[:-LOGIN_DAYS_KEPT]:
            del member.login_days[old]
        if count > rule["per_local_day"]:
            return [{"rule": "login", "points": 0, "growth": 0}]
        return [{"rule": "login", "points": rule["points"], "growth": rule["growth"]}]

    def _review(self, event_type: str, attributes: dict[str, Any]) -> list[dict[str, Any]]:
        rule = self.rules[event_type]
        nothing = [{"rule": event_type, "points": 0, "growth": 0}]
        if number(attributes["item_price"]) < number(rule["min_item_price"]):
            return nothing
        if event_type == "photo_review_approved" and attributes["rank"] > rule["max_rank"]:
            return nothing
        return [{"rule": event_type, "points": rule["points"], "growth": rule["growth"]}]

    def earn(
        self, program_id: str, member: Member, body: dict[str, Any], occurred_at: datetime, now: datetime
    ) -> Outcome:
        """``POST .../events`` of a new event_id; updates ``member`` only when it answers 201."""
        if occurred_at > now + timedelta(seconds=self.document["future_skew_seconds"]):
            return Outcome(422, code="VALIDATION_ERROR", field="occurred_at")
        attributes = body.get("attributes") or {}
        event_type = body["type"]
        currency = attributes.get("currency")
        if event_type == "order_completed" and currency not in (None, self.document["currency"]):
            return Outcome(422, code="VALIDATION_ERROR", field="attributes.currency")

        before_tier = member.tier
        member.attributes.update(body.get("member_attributes") or {})
        if event_type not in self.rules:
            awards = [{"rule": event_type, "points": 0, "growth": 0}]
        elif event_type == "order_completed":
            awards = self._order(member, attributes, occurred_at)
        elif event_type == "login":
            awards = self._login(member, occurred_at)
        else:
            awards = self._review(event_type, attributes)
        points = sum(a["points"] for a in awards)
        growth = sum(a["growth"] for a in awards)

        lot = Lot(self.expiry(occurred_at), points) if points > 0 else None
        if lot is not None:
            same = [existing for existing in member.lots if existing.expires_at == lot.expires_at]
            if same:
                same[0].points += lot.points
            else:
                member.lots.append(Lot(lot.expires_at, lot.points))
            member.lots.sort(key=_soonest_first)
        member.balance += points
        member.growth += growth

        # Upgrades are immediate; a member's first event gives it the tier its growth reaches.
        current = before_tier or self.tiers[0]["code"]
        reached = self.reached(member.growth)
        tier_change = None
        if before_tier is None or self.rank(reached["code"]) > self.rank(current):
            member.tier = reached["code"]
            member.tier_since = occurred_at
            months = reached.get("validity_months")
            member.tier_valid_until = self.months_later(occurred_at, months) if months else None
            if reached["code"] != current:
                tier_change = {"from": current, "to": reached["code"], "reason": "upgrade"}

        member.version += 1
        entry = {
            "entry_id": member.version,
            "kind": "earn",
            "event_id": body["event_id"],
            "event_type": event_type,
            "occurred_at": text(occurred_at),
            "recorded_at": text(now),
            "points": points,
            "growth": growth,
            "balance_after": member.balance,
            "growth_after": member.growth,
            "tier_after": member.tier,
            "lots": [lot.view()] if lot else [],
            "awards": awards,
            "config_version": self.version,
            "description": None,
        }
        member.ledger.append(entry)
        return Outcome(
            201,
            {
                "event_id": body["event_id"],
                "type": event_type,
                "occurred_at": text(occurred_at),
                "points_earned": points,
                "growth_earned": growth,
                "awards": awards,
                "lot": lot.view() if lot else None,
                "tier_change": tier_change,
                "ledger_entry_id": member.version,
                "config_version": self.version,
                "member": self.snapshot(program_id, member, now),
            },
        )

    # --- spending -------------------------------------------------------------------------

    def redeem(
        self, program_id: str, member: Member, body: dict[str, Any], occurred_at: datetime, now: datetime
    ) -> Outcome:
        """``POST .../redemptions`` of a new redemption_id; updates ``member`` only on 201."""
        if occurred_at > now + timedelta(seconds=self.document["future_skew_seconds"]):
            return Outcome(422, code="VALIDATION_ERROR", field="occurred_at")
        points = body["points"]
        if points > self.document["max_points_per_redemption"]:
            return Outcome(422, code="VALIDATION_ERROR", field="points")
        if not member.exists:
            return Outcome(404, code="MEMBER_NOT_FOUND")
        if points > member.available(occurred_at):
            return Outcome(409, code="INSUFFICIENT_POINTS", field="points")

        drawn: list[Lot] = []
        remaining = points
        for lot in sorted(member.lots, key=_soonest_first):  # soonest-expiring first (invariant 4)
            if remaining and lot.live_at(occurred_at):
                take = min(lot.points, remaining)
                drawn.append(Lot(lot.expires_at, take))
                lot.points -= take
                remaining -= take
        member.lots = [lot for lot in member.lots if lot.points]
        member.balance -= points
        member.version += 1
        entry = {
            "entry_id": member.version,
            "kind": "redeem",
            "redemption_id": body["redemption_id"],
            "event_type": None,
            "occurred_at": text(occurred_at),
            "recorded_at": text(now),
            "points": -points,
            "growth": 0,
            "balance_after": member.balance,
            "growth_after": member.growth,
            "tier_after": member.tier,
            "lots": [lot.view() for lot in drawn],
            "awards": [],
            "config_version": self.version,
            "description": body.get("description"),
        }
        member.ledger.append(entry)
        return Outcome(
            201,
            {
                "redemption_id": body["redemption_id"],
                "points": points,
                "occurred_at": text(occurred_at),
                "drawn": [lot.view() for lot in drawn],
                "ledger_entry_id": member.version,
                "member": self.snapshot(program_id, member, now),
            },
        )
