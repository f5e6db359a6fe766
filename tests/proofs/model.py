"""A reference model of the program rules, for the model-based test.

Written from DESIGN.md, the README and the program config document alone: nothing here
imports ``shared`` (the engine's rules, clock or config classes), so an engine bug cannot be
copied into the expectation. It is deliberately plain (lists, dicts, ``Fraction``): slow and
obvious beats fast and clever here.

What it covers today: the four event types (order amounts, tier multipliers and growth
coefficients, the monthly bonus, login day caps, review thresholds, photo-review ranks), points
lots and every expiry policy, spends soonest-expiring first, immediate tier upgrades, member
snapshots as of any request time, ledgers, idempotent replays and conflicting replays, program
config versions, redemption reversals, order records and ``order_refunded`` (proportional,
cumulatively floored, own lot first, ``refunds.negative_balance`` clamp/allow and the debt later
credits pay first, tier drops with reason ``refund``), tier anniversaries (applied by an earn
or by the tier job: deductions, renewals, downgrades, the inactive tier, catch-up), and the
expiry sweep with its reminders (per batch and window; points joining a batch take its
reminders), with the events each job publishes.

Extension point: an operation the engine gains becomes one method here that returns
``Outcome`` and updates ``Member``, plus one rule in ``test_model_based.LedgerMachine`` sending
the request; a job is a method per member returning the events it publishes.
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


MAX_ANNIVERSARIES_AT_ONCE = 200
"""Documented: a member overdue by more periods than this is caught up over several evaluations."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Lot:
    expires_at: datetime | None
    points: int
    available_at: datetime | None = None
    """An order's points pending through the return window (``pending_days``) until then."""
    remind_at: list[datetime] = field(default_factory=list, compare=False)
    """Expiry reminders still to send for this batch (DESIGN: ``points.expiring``). Points that
    join an existing batch take that batch's reminders: a window announced is not announced again."""

    def view(self) -> dict[str, Any]:
        view = {"points": self.points, "expires_at": text(self.expires_at)}
        if self.available_at is not None:
            view["available_at"] = text(self.available_at)
        return view

    def live_at(self, moment: datetime) -> bool:
        return self.points > 0 and (self.expires_at is None or self.expires_at > moment)

    def spendable_at(self, moment: datetime) -> bool:
        return self.live_at(moment) and (self.available_at is None or self.available_at <= moment)

    def pending_at(self, moment: datetime) -> bool:
        return self.live_at(moment) and self.available_at is not None and self.available_at > moment


def _soonest_first(lot: Lot) -> tuple[bool, datetime, datetime]:
    """Soonest-expiring first, never-expiring last; of one expiry, the sooner available first."""
    return (lot.expires_at is None, lot.expires_at or _EPOCH, lot.available_at or _EPOCH)


def _merged(lots: list[Lot]) -> list[Lot]:
    """One lot per (expiry, availability), empty lots dropped, soonest-expiring first."""
    kept: list[Lot] = []
    for lot in lots:
        same = [k for k in kept if (k.expires_at, k.available_at) == (lot.expires_at, lot.available_at)]
        if same:
            same[0].points += lot.points
        elif lot.points > 0:
            kept.append(Lot(lot.expires_at, lot.points, lot.available_at, list(lot.remind_at)))
    return sorted((lot for lot in kept if lot.points > 0), key=_soonest_first)


def _settled(lots: list[Lot], moment: datetime) -> list[Lot]:
    """Pending lots whose return window is over at ``moment`` become plain lots (and merge)."""
    return _merged(
        [
            Lot(
                lot.expires_at,
                lot.points,
                None if lot.available_at and lot.available_at <= moment else lot.available_at,
                list(lot.remind_at),
            )
            for lot in lots
        ]
    )


@dataclass
class Order:
    """What a completed order earned itself (not the monthly bonus), at which rates (points per
    whole unit x tier multiplier; growth per unit x coefficient), and its refunds so far."""

    event_id: str
    amount: Decimal
    points: int
    growth: int
    expires_at: datetime | None
    available_at: datetime | None
    occurred_at: datetime
    points_rate: Fraction
    growth_rate: Fraction
    refunded_amount: Decimal = Decimal(0)
    refunded_points: int = 0
    refunded_growth: int = 0


@dataclass
class Redemption:
    """An applied redemption: business time, its ledger entry, what it drew from each lot, and
    what reversals have not given back yet."""

    occurred_at: datetime
    entry_id: int
    drawn: list[Lot]
    left: list[Lot]


def _credit(member: Member, lot: Lot) -> Lot:
    """Add ``lot``'s points to the member: a refund's negative balance is paid first. Returns
    what went into the lots (the balance takes all of it)."""
    repaid = min(member.debt, lot.points)
    member.debt -= repaid
    added = Lot(lot.expires_at, lot.points - repaid, lot.available_at, list(lot.remind_at))
    member.lots = _merged([*member.lots, added])
    member.balance += lot.points
    return added


@dataclass
class Member:
    member_id: str
    version: int = 0
    """Every write to the member counts, reminders too (the snapshot's ``version``)."""
    seq: int = 0
    """Ledger entries so far: the last ``entry_id``."""
    growth: int = 0
    balance: int = 0
    lots: list[Lot] = field(default_factory=list)
    tier: str | None = None
    tier_since: datetime | None = None
    tier_valid_until: datetime | None = None
    period_start: datetime | None = None
    """Start of the current validity period: the tier's attainment or its last anniversary."""
    period_active: bool = False
    """A qualifying event happened in [period_start, tier_valid_until)."""
    last_qualifying_at: datetime | None = None
    login_days: dict[str, int] = field(default_factory=dict)
    months: dict[str, list[Any]] = field(default_factory=dict)  # month -> [orders, bonus given]
    attributes: dict[str, str] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    """Entries oldest first, in the shape the ledger route shows them."""
    redemptions: dict[str, Redemption] = field(default_factory=dict)
    """Applied redemptions by redemption_id."""
    debt: int = 0
    """Points a refund took back after they were spent (policy ``allow``): the balance is the
    lots minus this, and later credits pay it back first."""
    orders: dict[str, Order] = field(default_factory=dict)
    forgiven: dict[int, int] = field(default_factory=dict)
    """Points a refund let go because they had been spent (policy ``clamp``), by the refund's
    entry_id: a later reversal of a redemption recorded before that refund gives them to it
    first, so that a refund and a reversal end the same in either order (DESIGN invariant 8)."""
    outbox: list[dict[str, Any]] = field(default_factory=list)
    """``tier.changed`` details of anniversaries an earn applied: the tier job publishes them."""
    """Completed orders by order_id: what each earned and how much refunds took back."""

    @property
    def exists(self) -> bool:
        return self.version > 0

    def available(self, moment: datetime) -> int:
        return sum(lot.points for lot in self.lots if lot.spendable_at(moment))


@dataclass
class Anniversary:
    """What one anniversary did: when, the tier before and after, the growth it took, why."""

    at: datetime
    before: str
    after: str
    deducted: int
    reason: str  # renewed, upgrade, downgrade (active), inactive


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
        self.last_rates = (Fraction(0), Fraction(0))
        """The (points, growth) rates of the last order priced: what its record keeps."""

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

    def reminder_times(self, expires_at: datetime | None, after: datetime) -> list[datetime]:
        """When to announce a batch's expiry (``expiry_reminders.days_before``): each window
        still ahead of ``after``; a batch that arrives after every window has opened is
        announced at once (with the days it has left)."""
        if expires_at is None or expires_at <= after:
            return []
        days_before = (self.document.get("expiry_reminders") or {}).get("days_before", [30, 7])
        windows = [expires_at - timedelta(days=days) for days in days_before]
        ahead = sorted(moment for moment in windows if moment > after)
        return [after] if windows and not ahead else ahead

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

    def inactive_tier(self) -> dict[str, Any]:
        """Where an inactive member falls at an anniversary: the policy's tier, else the first."""
        code = (self.document.get("tier_policy") or {}).get("inactive_tier")
        return self.tier(code) if code else dict(self.tiers[0])

    def qualifying(self, event_type: str) -> bool:
        policy = self.document.get("tier_policy") or {}
        return event_type in policy.get("qualifying_events", ["order_completed"])

    def next_anniversary(self, since: datetime, after: datetime, months: int) -> datetime:
        """The first of ``since``'s anniversaries (every ``months``) strictly after ``after``."""
        periods = 1
        while self.months_later(since, periods * months) <= after:
            periods += 1
        return self.months_later(since, periods * months)

    def anniversaries(self, member: Member, moment: datetime) -> list[Anniversary]:
        """Apply every anniversary of the member's tier due by ``moment`` (oldest first), as
        many as one evaluation takes. The tier rules of DESIGN.md and the README, step by step."""
        steps: list[Anniversary] = []
        while (
            member.tier_valid_until is not None
            and member.tier_valid_until <= moment
            and len(steps) < MAX_ANNIVERSARIES_AT_ONCE
        ):
            at = member.tier_valid_until
            before = self.tier(member.tier)
            deducted = min(int(before.get("anniversary_deduction") or 0), member.growth)
            member.growth -= deducted
            by_growth = self.reached(member.growth)
            active = member.period_active
            if active:
                after = by_growth
            else:  # no qualifying activity: no higher than the inactive tier (nor than before)
                after = min((by_growth, self.inactive_tier(), before), key=lambda tier: self.rank(tier["code"]))
            months = before.get("validity_months")
            if after["code"] == before["code"] and months and member.tier_since is not None:
                member.tier_valid_until = self.next_anniversary(member.tier_since, at, months)
            else:
                member.tier_since = at
                months = after.get("validity_months")
                member.tier_valid_until = self.months_later(at, months) if months else None
            member.tier = after["code"]
            member.period_start = at
            last, until = member.last_qualifying_at, member.tier_valid_until
            member.period_active = last is not None and last >= at and (until is None or last < until)
            rank_before, rank_after = self.rank(before["code"]), self.rank(after["code"])
            if rank_after == rank_before:
                reason = "renewed"
            elif rank_after > rank_before:  # an admin lowered a threshold
                reason = "upgrade"
            else:
                reason = "downgrade" if active else "inactive"
            steps.append(Anniversary(at, before["code"], after["code"], deducted, reason))
        return steps

    @staticmethod
    def tier_change(steps: list[Anniversary]) -> tuple[str, str, str] | None:
        """(old, new, reason) when anniversaries ended in another tier than they began: the
        reason is the last change's."""
        if not steps or steps[0].before == steps[-1].after:
            return None
        return steps[0].before, steps[-1].after, [s.reason for s in steps if s.before != s.after][-1]

    def tier_changed(self, program_id: str, member: Member, steps: list[Anniversary]) -> dict[str, Any] | None:
        """The ``tier.changed`` detail of ``steps``, whoever applied them (the tier job, or an
        earn: then ``growth_after`` includes the event's own growth, as its ledger entry does)."""
        change = self.tier_change(steps)
        if change is None:
            return None
        return {
            "event_id": f"tier.changed:{program_id}:{member.member_id}:{member.seq}",
            "program_id": program_id,
            "member_id": member.member_id,
            "old_tier": change[0],
            "new_tier": change[1],
            "reason": change[2],
            "anniversary": text(steps[-1].at),
            "growth_deducted": sum(step.deducted for step in steps),
            "growth_after": member.growth,
            "valid_until": text(member.tier_valid_until),
            "ledger_entry_id": member.seq,
        }

    # --- the daily jobs -------------------------------------------------------------------

    def evaluate_tier(self, program_id: str, member: Member, now: datetime) -> list[dict[str, Any]]:
        """The tier job at ``now`` for one member: every anniversary due, one ``tier_evaluation``
        entry; returns the ``tier.changed`` details it publishes (none if the tier is kept)."""
        if member.tier_valid_until is None or member.tier_valid_until > now:
            return []
        steps = self.anniversaries(member, now)
        deducted = sum(step.deducted for step in steps)
        member.version += 1
        self.record(
            member,
            "tier_evaluation",
            ("evaluation_id", f"tier@{text(steps[0].at)}"),
            None,
            steps[0].at,
            now,
            points=0,
            growth=-deducted,
            lots=[],
            awards=[{"rule": "anniversary", "points": 0, "growth": -step.deducted} for step in steps],
            description="tier anniversary: " + ", ".join(step.reason for step in steps),
        )
        detail = self.tier_changed(program_id, member, steps)
        return [detail] if detail else []

    def sweep(self, program_id: str, member: Member, now: datetime) -> list[dict[str, Any]]:
        """The expiry sweep at ``now`` for one member: batches past their expiry leave the
        balance in one ``expire`` entry (``points.expired``); batches whose reminder is due are
        announced (``points.expiring``, once per batch and window). Returns the details."""
        expired: list[Lot] = []
        reminders: list[tuple[datetime, int, int]] = []
        kept: list[Lot] = []
        for lot in _settled(member.lots, now):
            if lot.points > 0 and lot.expires_at is not None and lot.expires_at <= now:
                expired.append(Lot(lot.expires_at, lot.points))
                continue
            due = [moment for moment in lot.remind_at if moment <= now]
            if due and lot.expires_at is not None and lot.points > 0:
                days_left = round((lot.expires_at - max(due)).total_seconds() / 86_400)
                reminders.append((lot.expires_at, lot.points, days_left))
                lot.remind_at = [moment for moment in lot.remind_at if moment > now]
            kept.append(lot)
        if not expired and not reminders:
            return []
        gone = sum(lot.points for lot in expired)
        member.lots = _merged(kept)
        member.balance -= gone
        member.version += 1
        events: list[dict[str, Any]] = []
        base = {"program_id": program_id, "member_id": member.member_id}
        if expired:
            first = min(lot.expires_at for lot in expired if lot.expires_at)
            self.record(
                member,
                "expire",
                ("expiry_id", f"expiry@{text(first)}"),
                None,
                first,
                now,
                points=-gone,
                growth=0,
                lots=[lot.view() for lot in expired],
                awards=[],
                description=f"{gone} points expired",
            )
            events.append(
                {
                    "event_id": f"points.expired:{program_id}:{member.member_id}:{member.seq}",
                    **base,
                    "points": gone,
                    "lots": [{"points": lot.points, "expires_at": text(lot.expires_at)} for lot in expired],
                    "balance_after": member.balance,
                    "ledger_entry_id": member.seq,
                }
            )
        for expires_at, points, days_left in reminders:
            batch = f"{text(expires_at)}:{days_left}d"
            events.append(
                {
                    "event_id": f"points.expiring:{program_id}:{member.member_id}:{member.version}:{batch}",
                    **base,
                    "points": points,
                    "expires_at": text(expires_at),
                    "days_before": days_left,
                }
            )
        return events

    def next_expiry_action(self, member: Member) -> datetime | None:
        """The next instant the sweep has work for the member: a reminder or an expiry."""
        live = [lot for lot in member.lots if lot.points > 0 and lot.expires_at]
        moments = [moment for lot in live for moment in (lot.expires_at, *lot.remind_at)]
        return min(moments, default=None)

    # --- the ledger -------------------------------------------------------------------------

    def record(
        self,
        member: Member,
        kind: str,
        key: tuple[str, str],
        event_type: str | None,
        occurred_at: datetime,
        now: datetime,
        *,
        points: int,
        growth: int,
        lots: list[dict[str, Any]],
        awards: list[dict[str, Any]],
        description: str | None,
        refers: dict[str, str] | None = None,
    ) -> None:
        """Append the member's next ledger entry, as the ledger route shows it, after the change
        it records was applied to ``member`` (its totals are the entry's "after" figures)."""
        member.seq += 1
        entry = {
            "entry_id": member.seq,
            "kind": kind,
            key[0]: key[1],
            "event_type": event_type,
            "occurred_at": text(occurred_at),
            "recorded_at": text(now),
            "points": points,
            "growth": growth,
            "balance_after": member.balance,
            "growth_after": member.growth,
            "tier_after": member.tier,
            "lots": lots,
            "awards": awards,
            "config_version": self.version,
            "description": description,
            **(refers or {}),
        }
        member.ledger.append(entry)

    # --- views ----------------------------------------------------------------------------

    def snapshot(self, program_id: str, member: Member, now: datetime) -> dict[str, Any]:
        tier = self.tier(member.tier)
        rank = self.rank(tier["code"])
        higher = self.tiers[rank + 1] if rank + 1 < len(self.tiers) else None
        deduction = int(tier.get("anniversary_deduction") or 0)
        expiring = [lot for lot in member.lots if lot.live_at(now) and lot.expires_at]
        pending = sorted((lot for lot in member.lots if lot.pending_at(now)), key=lambda lot: lot.available_at)
        return {
            "program_id": program_id,
            "member_id": member.member_id,
            "tier": {
                "code": tier["code"],
                "name": tier["name"],
                "since": text(member.tier_since),
                "valid_until": text(member.tier_valid_until),
                "points_multiplier": str(tier.get("points_multiplier", "1")),
                "benefits": list(tier.get("benefits") or []),
                "next_evaluation_at": text(member.tier_valid_until),
                "to_keep": None
                if member.tier_valid_until is None
                else {
                    "growth_needed": max(0, int(tier["min_growth"]) + deduction - member.growth),
                    "qualifying_activity_needed": not member.period_active
                    and self.rank(self.inactive_tier()["code"]) < rank,
                    "anniversary_deduction": deduction,
                },
                "next_tier": None
                if higher is None
                else {
                    "code": higher["code"],
                    "name": higher["name"],
                    "growth_needed": max(0, int(higher["min_growth"]) - member.growth),
                },
            },
            "growth": member.growth,
            "points": {
                "balance": member.balance,
                "available": member.available(now),
                "pending": sum(lot.points for lot in pending),
                "pending_lots": [lot.view() for lot in pending],
                "negative_balance": member.debt,
                "expiring": [lot.view() for lot in sorted(expiring, key=_soonest_first)],
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
        self.last_rates = (number(rule["points_per_unit"]) * multiplier, number(rule["growth_per_unit"]) * coefficient)

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
        self,
        program_id: str,
        member: Member,
        body: dict[str, Any],
        occurred_at: datetime,
        now: datetime,
        reported_elsewhere: bool = False,
    ) -> Outcome:
        """``POST .../events`` of a new event_id; updates ``member`` only when it answers 201.
        ``reported_elsewhere``: the order id was reported by another member (unique per program)."""
        if occurred_at > now + timedelta(seconds=self.document["future_skew_seconds"]):
            return Outcome(422, code="VALIDATION_ERROR", field="occurred_at")
        attributes = body.get("attributes") or {}
        event_type = body["type"]
        currency = attributes.get("currency")
        if event_type == "order_completed" and currency not in (None, self.document["currency"]):
            return Outcome(422, code="VALIDATION_ERROR", field="attributes.currency")
        if event_type == "order_completed" and (reported_elsewhere or attributes["order_id"] in member.orders):
            return Outcome(409, code="ORDER_ALREADY_REPORTED", field="attributes.order_id")

        # Anniversaries due by the event's business time come first, in the same entry.
        steps = self.anniversaries(member, occurred_at) if member.exists else []
        deductions = [step.deducted for step in steps]
        before_tier = member.tier
        for name, value in (body.get("member_attributes") or {}).items():  # null removes a name
            if value is None:
                member.attributes.pop(name, None)
            else:
                member.attributes[name] = value
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

        member.lots = _settled(member.lots, occurred_at)
        lot = None
        pending_days = (
            int(self.rules[event_type].get("pending_days") or 0)
            if event_type == "order_completed" and event_type in self.rules
            else 0
        )
        available_at = occurred_at + timedelta(days=pending_days) if pending_days else None
        if points > 0:
            expires_at = self.expiry(occurred_at)
            reminders = self.reminder_times(expires_at, occurred_at)
            lot = _credit(member, Lot(expires_at, points, available_at, reminders))
            if lot.points < points:
                awards.append({"rule": "debt_repayment", "points": 0, "growth": 0})
            if not lot.points:
                lot = None
        member.growth += growth
        if event_type == "order_completed":
            own = awards[0]
            member.orders[attributes["order_id"]] = Order(
                body["event_id"],
                Decimal(attributes["settled_amount"]),
                own["points"],
                own["growth"],
                self.expiry(occurred_at),
                available_at,
                occurred_at,
                *self.last_rates,
            )

        # Upgrades are immediate; a member's first event gives it the tier its growth reaches.
        # A backdated upgrade never starts before the current period (an anniversary evaluated).
        current = before_tier or self.tiers[0]["code"]
        reached = self.reached(member.growth)
        tier_change = None
        new_period = False
        if before_tier is None or self.rank(reached["code"]) > self.rank(current):
            start = occurred_at if member.period_start is None else max(occurred_at, member.period_start)
            member.tier = reached["code"]
            member.tier_since = start
            months = reached.get("validity_months")
            member.tier_valid_until = self.months_later(start, months) if months else None
            if reached["code"] != current:
                tier_change = {"from": current, "to": reached["code"], "reason": "upgrade"}
                new_period = True
        # Qualifying activity, for the next anniversary.
        if new_period:
            member.period_start, member.period_active = start, False
        elif member.period_start is None:
            member.period_start = member.tier_since or occurred_at
        if self.qualifying(event_type):
            if member.last_qualifying_at is None or occurred_at > member.last_qualifying_at:
                member.last_qualifying_at = occurred_at
            until = member.tier_valid_until
            # the event that attains a tier opens its period: activity is what comes after
            if not new_period and member.period_start <= occurred_at and (until is None or occurred_at < until):
                member.period_active = True
        awards = [{"rule": "anniversary", "points": 0, "growth": -d} for d in deductions] + awards

        member.version += 1
        self.record(
            member,
            "earn",
            ("event_id", body["event_id"]),
            event_type,
            occurred_at,
            now,
            points=points,
            growth=growth - sum(deductions),
            lots=[lot.view()] if lot else [],
            awards=awards,
            description=None,
        )
        answer = {
            "event_id": body["event_id"],
            "type": event_type,
            "occurred_at": text(occurred_at),
            "points_earned": points,
            "growth_earned": growth,
            "awards": awards,
            "lot": lot.view() if lot else None,
            "tier_change": tier_change,
            "ledger_entry_id": member.seq,
            "config_version": self.version,
            "member": self.snapshot(program_id, member, now),
        }
        if deductions:
            answer["anniversary_growth_deducted"] = sum(deductions)
        detail = self.tier_changed(program_id, member, steps)
        if detail:  # published by the tier job's next run (its outbox)
            member.outbox.append(detail)
        return Outcome(201, answer)

    # --- refunds --------------------------------------------------------------------------

    def refund(
        self, program_id: str, member: Member, body: dict[str, Any], occurred_at: datetime, now: datetime
    ) -> Outcome:
        """``order_refunded`` of a new event_id: the order's own points and growth taken back in
        proportion to the refunded share (cumulatively floored), its own lot first. No
        anniversary is applied first (only earns do that)."""
        if occurred_at > now + timedelta(seconds=self.document["future_skew_seconds"]):
            return Outcome(422, code="VALIDATION_ERROR", field="occurred_at")
        attributes = body.get("attributes") or {}
        if attributes.get("currency") not in (None, self.document["currency"]):
            return Outcome(422, code="VALIDATION_ERROR", field="attributes.currency")
        order = member.orders.get(attributes["order_id"])
        if order is None:
            return Outcome(404, code="ORDER_NOT_FOUND", field="attributes.order_id")
        if occurred_at < order.occurred_at:  # a refund never predates its order
            return Outcome(422, code="VALIDATION_ERROR", field="occurred_at")
        if attributes.get("refund_amount") is None:
            amount = order.amount - order.refunded_amount
            if amount <= 0:
                return Outcome(409, code="REFUND_EXCEEDS_ORDER", field="attributes.refund_amount")
        else:
            amount = Decimal(attributes["refund_amount"])
            if amount <= 0 or amount > order.amount:
                return Outcome(422, code="VALIDATION_ERROR", field="attributes.refund_amount")
        refunded = order.refunded_amount + amount
        if refunded > order.amount:
            return Outcome(409, code="REFUND_EXCEEDS_ORDER", field="attributes.refund_amount")

        # The order keeps what its kept amount earns at its own rates, with the earning rounding
        # (README: refunds), never more than it earned: kept points and growth, cumulative.
        kept = Fraction(order.amount - refunded)
        kept_points = min(order.points, math.floor(math.floor(kept) * order.points_rate)) if kept > 0 else 0
        kept_growth = min(order.growth, math.floor(kept * order.growth_rate)) if kept > 0 else 0

        cutoff = max(occurred_at, now)  # lots expired by either are gone
        points = order.points - kept_points - order.refunded_points
        lapsed = 0
        if order.expires_at is not None and order.expires_at <= cutoff:
            points, lapsed = 0, points  # expired with its lot: other lots are not charged
        growth = min(order.growth - kept_growth - order.refunded_growth, member.growth)

        lots = _settled(member.lots, cutoff)
        drawn: list[Lot] = []
        remaining = points

        def take(lot: Lot) -> None:
            nonlocal remaining
            amount_taken = min(lot.points, remaining)
            if amount_taken:
                drawn.append(Lot(lot.expires_at, amount_taken))
                lot.points -= amount_taken
                remaining -= amount_taken

        own = [
            lot
            for lot in lots
            if lot.live_at(cutoff)
            and lot.expires_at == order.expires_at
            and (lot.available_at is None or lot.available_at == order.available_at)
        ]
        for lot in sorted(own, key=lambda lot: lot.available_at is None):  # its pending lot first
            take(lot)
        for lot in sorted(lots, key=_soonest_first):
            if lot.spendable_at(cutoff):
                take(lot)
        for lot in sorted(lots, key=_soonest_first):
            if lot.live_at(cutoff):
                take(lot)
        member.lots = _merged(lots)
        debt = remaining if (self.document.get("refunds") or {}).get("negative_balance", "clamp") == "allow" else 0
        forgiven = remaining - debt
        charged = points - forgiven
        if forgiven:  # owed back by reversals of redemptions recorded before this refund
            member.forgiven[member.seq + 1] = forgiven
        member.debt += debt
        member.balance -= charged
        member.growth -= growth

        tier_change = None
        current = self.tier(member.tier)
        if member.growth < int(current["min_growth"]):
            lower = self.reached(member.growth)
            months = lower.get("validity_months")
            # never before the events that set the tier: its own start, its current period
            since = max(t for t in (occurred_at, member.tier_since, member.period_start) if t is not None)
            member.tier = lower["code"]
            member.tier_since = since
            member.tier_valid_until = self.months_later(since, months) if months else None
            member.period_start, member.period_active = since, False
            tier_change = {"from": current["code"], "to": lower["code"], "reason": "refund"}

        order.refunded_amount = refunded
        order.refunded_points += points + lapsed
        order.refunded_growth += growth
        member.version += 1
        self.record(
            member,
            "refund",
            ("event_id", body["event_id"]),
            "order_refunded",
            occurred_at,
            now,
            points=-charged,
            growth=-growth,
            lots=[lot.view() for lot in drawn],
            awards=[{"rule": "order_refunded", "points": -charged, "growth": -growth}],
            description=None,
        )
        return Outcome(
            201,
            {
                "event_id": body["event_id"],
                "type": "order_refunded",
                "occurred_at": text(occurred_at),
                "order_id": attributes["order_id"],
                "refund_amount": str(amount),
                "order_refunded_amount": str(refunded),
                "points_reversed": charged,
                "growth_reversed": growth,
                "drawn": [lot.view() for lot in drawn],
                "negative_balance_added": debt,
                "points_forgiven": forgiven,
                "points_lapsed": lapsed,
                "tier_change": tier_change,
                "ledger_entry_id": member.seq,
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
        # spendable at the business time, and not expired by the time the write is recorded
        # (invariant 9: a backdated spend never draws a lot expired since)
        recorded = max(occurred_at, now)

        def eligible(lot: Lot) -> bool:
            return lot.spendable_at(occurred_at) and lot.live_at(recorded)

        if points > sum(lot.points for lot in member.lots if eligible(lot)):
            return Outcome(409, code="INSUFFICIENT_POINTS", field="points")

        drawn: list[Lot] = []
        remaining = points
        member.lots = _settled(member.lots, occurred_at)
        for lot in sorted(member.lots, key=_soonest_first):  # soonest-expiring first (invariant 4)
            if remaining and eligible(lot):
                take = min(lot.points, remaining)
                drawn.append(Lot(lot.expires_at, take))
                lot.points -= take
                remaining -= take
        member.lots = [lot for lot in member.lots if lot.points]
        member.balance -= points
        member.version += 1
        self.record(
            member,
            "redeem",
            ("redemption_id", body["redemption_id"]),
            None,
            occurred_at,
            now,
            points=-points,
            growth=0,
            lots=[lot.view() for lot in drawn],
            awards=[],
            description=body.get("description"),
        )
        member.redemptions[body["redemption_id"]] = Redemption(
            occurred_at,
            member.seq,
            [Lot(d.expires_at, d.points) for d in drawn],
            [Lot(d.expires_at, d.points) for d in drawn],
        )
        return Outcome(
            201,
            {
                "redemption_id": body["redemption_id"],
                "points": points,
                "occurred_at": text(occurred_at),
                "drawn": [lot.view() for lot in drawn],
                "ledger_entry_id": member.seq,
                "member": self.snapshot(program_id, member, now),
            },
        )

    def reverse(
        self,
        program_id: str,
        member: Member,
        redemption_id: str,
        body: dict[str, Any],
        occurred_at: datetime,
        now: datetime,
    ) -> Outcome:
        """``POST .../redemptions/{id}/reversal``: all that is left of the redemption, or
        ``points`` of it (the points drawn last come back first), to the lots they came from,
        except points whose lot has expired by the later of the business and the request time;
        points that refunds recorded after the redemption could not take back (spent, policy
        clamp) go to those refunds first."""
        if occurred_at > now + timedelta(seconds=self.document["future_skew_seconds"]):
            return Outcome(422, code="VALIDATION_ERROR", field="occurred_at")
        if redemption_id not in member.redemptions:
            return Outcome(404, code="REDEMPTION_NOT_FOUND", field="redemption_id")
        redemption = member.redemptions[redemption_id]
        if occurred_at < redemption.occurred_at:
            return Outcome(422, code="VALIDATION_ERROR", field="occurred_at")
        remaining = sum(lot.points for lot in redemption.left)
        wanted = remaining if body.get("points") is None else body["points"]
        if wanted > remaining or remaining == 0:
            return Outcome(409, code="REVERSAL_EXCEEDS_REDEMPTION", field="points")
        taken: list[Lot] = []
        left: list[Lot] = []
        need = wanted
        for lot in reversed(sorted(redemption.left, key=_soonest_first)):  # drawn last, back first
            take = min(lot.points, need)
            need -= take
            if take:
                taken.append(Lot(lot.expires_at, take))
            if lot.points - take:
                left.append(Lot(lot.expires_at, lot.points - take))
        redemption.left = sorted(left, key=_soonest_first)
        cutoff = max(occurred_at, now)
        live = sorted((lot for lot in taken if lot.expires_at is None or lot.expires_at > cutoff), key=_soonest_first)
        lost = sorted(
            (lot for lot in taken if lot.expires_at is not None and lot.expires_at <= cutoff), key=_soonest_first
        )
        to_refunds = 0
        for seq in sorted(member.forgiven):
            if seq <= redemption.entry_id:
                continue
            for lot in live:  # soonest-expiring first
                pay = min(lot.points, member.forgiven[seq])
                lot.points -= pay
                member.forgiven[seq] -= pay
                to_refunds += pay
            if not member.forgiven[seq]:
                del member.forgiven[seq]
        returned = [lot for lot in live if lot.points]
        for lot in returned:
            # points rejoining a batch that still exists take its reminders; a batch that is
            # gone comes back with the reminders still ahead
            exists = any((k.expires_at, k.available_at) == (lot.expires_at, None) for k in member.lots if k.points)
            reminders = [] if exists else self.reminder_times(lot.expires_at, cutoff)
            _credit(member, Lot(lot.expires_at, lot.points, None, reminders))
        points = sum(lot.points for lot in returned)
        not_revived = sum(lot.points for lot in lost)
        reversal_id = body.get("reversal_id")
        member.version += 1
        self.record(
            member,
            "reversal",
            ("reversal_id", reversal_id) if reversal_id else ("redemption_id", redemption_id),
            None,
            occurred_at,
            now,
            points=points,
            growth=0,
            lots=[lot.view() for lot in returned],
            awards=[],
            description=body.get("reason") or self._reversal_notes(not_revived, to_refunds),
            refers={"redemption_id": redemption_id} if reversal_id else {},
        )
        return Outcome(
            201,
            {
                "redemption_id": redemption_id,
                "reversal_id": reversal_id,
                "occurred_at": text(occurred_at),
                "points_reversed": wanted,
                "points_returned": points,
                "returned": [lot.view() for lot in returned],
                "points_not_revived": not_revived,
                "not_revived": [lot.view() for lot in lost],
                "points_to_refunds": to_refunds,
                "points_left": sum(lot.points for lot in redemption.left),
                "ledger_entry_id": member.seq,
                "member": self.snapshot(program_id, member, now),
            },
        )

    @staticmethod
    def _reversal_notes(not_revived: int, to_refunds: int) -> str | None:
        notes = [f"{not_revived} points not revived: their lot expired"] if not_revived else []
        if to_refunds:
            notes.append(f"{to_refunds} points went to refunds that could not take them back when they were spent")
        return "; ".join(notes) or None
