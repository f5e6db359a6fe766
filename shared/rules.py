"""Pure domain rules: events to points and growth, lots, spends, tiers. No I/O, no clock.

Every function takes the program config and the member's state and returns new values; the
caller decides when "now" is (a business time) and persists the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any

from shared import clock
from shared.errors import InsufficientPoints, ValidationFailed
from shared.program import (
    MAX_MEMBER_ATTRIBUTES,
    LoginRule,
    MonthEndExpiry,
    NeverExpiry,
    OrderRule,
    PhotoReviewRule,
    ProgramConfig,
    ReviewRule,
    RollingExpiry,
    YearEndExpiry,
)

LOGIN_DAYS_KEPT = 62
"""Program-local days of login counts kept per member; later reports of older logins earn nothing."""
MONTHS_KEPT = 24
"""Program-local months of order counts kept per member, for the monthly bonus."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PointsLot:
    """Points sharing one expiry instant (``None``: never expire) and one availability.

    Lots merge by (expiry, availability). ``available_at`` holds an order's points pending
    through its return window; ``remind_at`` are the expiry reminders still to send.
    """

    expires_at: datetime | None
    points: int
    available_at: datetime | None = None
    remind_at: tuple[datetime, ...] = field(default=(), compare=False)

    @property
    def key(self) -> tuple[datetime | None, datetime | None]:
        return (self.expires_at, self.available_at)


@dataclass(frozen=True)
class MonthActivity:
    orders: int = 0
    bonus_awarded: bool = False


@dataclass(frozen=True)
class MemberState:
    """Everything the rules need to know about one member, as of its ``version``."""

    program_id: str
    member_id: str
    version: int = 0
    """0 for a member not yet written; each write increments it (optimistic concurrency)."""
    growth: int = 0
    points_balance: int = 0
    """Sum of the lots minus ``points_debt``: negative only through a refund the policy allows."""
    lots: tuple[PointsLot, ...] = ()
    points_debt: int = 0
    """Points a refund took that the member no longer had (policy ``allow``): later earnings pay it."""
    tier: str = ""
    tier_since: datetime | None = None
    tier_valid_until: datetime | None = None
    """When the tier is next evaluated (its anniversary); ``None`` for tiers without a validity."""
    tier_period_start: datetime | None = None
    """Start of the current validity period: the attainment or the last anniversary."""
    tier_period_active: bool = False
    """Whether a qualifying event happened in [tier_period_start, tier_valid_until)."""
    last_qualifying_at: datetime | None = None
    login_days: Mapping[str, int] = field(default_factory=dict)
    months: Mapping[str, MonthActivity] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    forgiven: Mapping[int, int] = field(default_factory=dict)
    """Points refunds let go because they had been spent (policy ``clamp``), by the refund's
    ledger entry: a later reversal of a redemption recorded before that refund pays them first."""
    ledger_seq: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.version > 0


@dataclass(frozen=True)
class BusinessEvent:
    """A validated event: ``attributes`` hold typed values (``Decimal`` amounts, ``int`` ranks)."""

    event_id: str
    type: str
    occurred_at: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)
    member_attributes: Mapping[str, str | None] = field(default_factory=dict)
    """Facts about the member reported with the event; ``None`` removes the name."""


@dataclass(frozen=True)
class Award:
    """What one rule gave for one event; ``points`` and ``growth`` may both be 0 (with a reason)."""

    rule: str
    points: int
    growth: int
    reason: str = ""


@dataclass(frozen=True)
class TierChange:
    old: str
    new: str
    reason: str


@dataclass(frozen=True)
class EarnOutcome:
    state: MemberState
    points: int
    growth: int
    awards: tuple[Award, ...]
    lot: PointsLot | None
    tier_change: TierChange | None
    order_rates: tuple[Decimal, Decimal] | None = None
    """An order's (points, growth) rates (``order_rates``): what its kept amount earns after refunds."""


@dataclass(frozen=True)
class SpendOutcome:
    state: MemberState
    drawn: tuple[PointsLot, ...]
    """How many points came from each lot, soonest-expiring first."""


def floor_int(value: Decimal) -> int:
    """Explicit rounding: every fractional point or growth is floored."""
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


# --- expiry ---------------------------------------------------------------------------


def lot_expiry(config: ProgramConfig, earned_at: datetime) -> datetime | None:
    """When points earned at ``earned_at`` expire, under the program's policy, in UTC."""
    policy = config.expiry
    tz = config.time_zone
    day = clock.local_date(earned_at, tz)
    if isinstance(policy, YearEndExpiry):
        return clock.start_of_local_day(date(day.year + policy.years_after + 1, 1, 1), tz)
    if isinstance(policy, MonthEndExpiry):
        first_of_month = date(day.year, day.month, 1)
        return clock.start_of_local_day(clock.add_months(first_of_month, policy.months_after + 1), tz)
    if isinstance(policy, RollingExpiry):
        return clock.start_of_local_day(day + clock.days(policy.days + 1), tz)
    if isinstance(policy, NeverExpiry):
        return None
    raise AssertionError(f"unhandled expiry policy {policy!r}")


def sort_lots(lots: tuple[PointsLot, ...] | list[PointsLot]) -> tuple[PointsLot, ...]:
    """Lots soonest-expiring first, never-expiring last; available before pending."""
    return tuple(
        sorted(
            lots,
            key=lambda lot: (lot.expires_at is None, lot.expires_at or _EPOCH, lot.available_at or _EPOCH),
        )
    )


def add_lot(lots: tuple[PointsLot, ...], lot: PointsLot) -> tuple[PointsLot, ...]:
    """``lots`` with ``lot`` merged into the lot of the same expiry and availability.

    A merged lot keeps the reminders still due for the points already there: a window already
    announced for a batch is not announced again because points joined it.
    """
    if lot.points <= 0:
        return sort_lots([existing for existing in lots if existing.points > 0])
    merged = [
        replace(existing, points=existing.points + lot.points) if existing.key == lot.key else existing
        for existing in lots
    ]
    if not any(existing.key == lot.key for existing in lots):
        merged.append(lot)
    return sort_lots([m for m in merged if m.points > 0])


def settle_pending(lots: tuple[PointsLot, ...], at: datetime) -> tuple[PointsLot, ...]:
    """Lots whose pending period is over at ``at`` become plain available lots (and merge)."""
    settled: tuple[PointsLot, ...] = ()
    for lot in lots:
        if lot.available_at is not None and lot.available_at <= at:
            lot = replace(lot, available_at=None)
        settled = add_lot(settled, lot)
    return settled


def is_live(lot: PointsLot, at: datetime) -> bool:
    """A lot holds points at ``at`` until its expiry instant (exclusive)."""
    return lot.points > 0 and (lot.expires_at is None or lot.expires_at > at)


def is_available(lot: PointsLot, at: datetime) -> bool:
    """A live lot can be spent once its pending period (if any) is over."""
    return is_live(lot, at) and (lot.available_at is None or lot.available_at <= at)


def available_points(lots: tuple[PointsLot, ...], at: datetime) -> int:
    """Points spendable at ``at``: expired lots are excluded even before a sweep, pending ones too."""
    return sum(lot.points for lot in lots if is_available(lot, at))


def pending_lots(lots: tuple[PointsLot, ...], at: datetime) -> list[PointsLot]:
    """Live lots still inside their pending period, soonest available first."""
    pending = [lot for lot in lots if is_live(lot, at) and lot.available_at is not None and lot.available_at > at]
    return sorted(pending, key=lambda lot: lot.available_at or _EPOCH)


def upcoming_expiries(lots: tuple[PointsLot, ...], at: datetime) -> list[PointsLot]:
    """Every live lot that will expire, soonest first (not only the next one)."""
    return [lot for lot in sort_lots(lots) if is_live(lot, at) and lot.expires_at is not None]


def reminder_times(config: ProgramConfig, expires_at: datetime | None, after: datetime) -> tuple[datetime, ...]:
    """When to announce an expiry: each configured window before it that is still ahead of
    ``after``; points arriving inside the nearest window already (e.g. 3 days before their
    expiry, windows 30 and 7) are announced at once, at ``after``, with the days they have left."""
    if expires_at is None or expires_at <= after:
        return ()
    times = [expires_at - timedelta(days=days) for days in config.expiry_reminders.days_before]
    ahead = sorted(t for t in times if t > after)
    inside_a_window = len(ahead) < len(times)
    return (after,) if inside_a_window and not ahead else tuple(ahead)


def next_expiry_action(lots: tuple[PointsLot, ...]) -> datetime | None:
    """The next instant the expiry sweep has work for these lots: a reminder or an expiry."""
    moments = [m for lot in lots if lot.points > 0 and lot.expires_at for m in (lot.expires_at, *lot.remind_at)]
    return min(moments, default=None)


def credit(state: MemberState, lot: PointsLot) -> tuple[MemberState, PointsLot]:
    """Add ``lot`` to the member: a refund's debt is paid first. Returns the lot as added."""
    repaid = min(state.points_debt, lot.points)
    added = replace(lot, points=lot.points - repaid)
    return (
        replace(
            state,
            lots=add_lot(state.lots, added),
            points_debt=state.points_debt - repaid,
            points_balance=state.points_balance + lot.points,
        ),
        added,
    )


# --- tiers ----------------------------------------------------------------------------


def upgrade_tier(
    config: ProgramConfig, state: MemberState, growth: int, at: datetime
) -> tuple[str, datetime | None, datetime | None, TierChange | None]:
    """Upgrades are immediate: the tier ``growth`` reaches, if higher than the current one.

    Returns (tier, since, valid_until, change). Downgrades are the tier job's business.
    """
    current = state.tier or config.tiers[0].code
    reached = config.tier_for_growth(growth)
    if state.tier and config.tier_rank(reached.code) <= config.tier_rank(current):
        return current, state.tier_since, state.tier_valid_until, None
    # A backdated event never starts a tier before the current period (an anniversary already
    # evaluated): its validity would end in the past and be deducted twice in one year.
    if state.tier_period_start is not None and at < state.tier_period_start:
        at = state.tier_period_start
    valid_until = (
        clock.add_months_utc(at, reached.validity_months, config.time_zone) if reached.validity_months else None
    )
    change = TierChange(current, reached.code, "upgrade") if reached.code != current else None
    return reached.code, at, valid_until, change


# --- earning --------------------------------------------------------------------------


def _coefficient(rule: OrderRule, attributes: Mapping[str, str]) -> Decimal:
    # The highest matching coefficient wins, so overlapping attributes never stack.
    matches = [c.coefficient for c in rule.growth_coefficients if attributes.get(c.attribute) == c.equals]
    return max(matches, default=Decimal(1))


def order_rates(config: ProgramConfig, rule: OrderRule, state: MemberState) -> tuple[Decimal, Decimal]:
    """(points per whole unit, growth per unit) an order of ``state``'s member earns at: the
    rule's rates times the tier's multiplier and the member's growth coefficient. Exact."""
    multiplier = config.tier(state.tier or config.tiers[0].code).points_multiplier
    with localcontext() as exact:
        # Inputs have at most 16 + 18 + 18 significant digits: at 80 digits the products are
        # exact, so the floor is the only rounding (the default 28 digits would round first).
        exact.prec = 80
        return rule.points_per_unit * multiplier, rule.growth_per_unit * _coefficient(rule, state.attributes)


def _order_awards(
    config: ProgramConfig, rule: OrderRule, state: MemberState, event: BusinessEvent
) -> tuple[list[Award], dict[str, MonthActivity]]:
    amount: Decimal = event.attributes["settled_amount"]
    points_rate, growth_rate = order_rates(config, rule, state)
    with localcontext() as exact:
        exact.prec = 80
        points = floor_int(floor_int(amount) * points_rate)
        growth = floor_int(amount * growth_rate)
    awards = [Award("order_completed", points, growth)]

    months = dict(state.months)
    month = clock.local_month(event.occurred_at, config.time_zone)
    if months and month < min(months) and len(months) >= MONTHS_KEPT:
        awards.append(Award("monthly_bonus", 0, 0, "month no longer tracked"))
        return awards, months
    activity = months.get(month, MonthActivity())
    activity = replace(activity, orders=activity.orders + 1)
    bonus = config.monthly_bonus
    if bonus is not None and not activity.bonus_awarded and activity.orders >= bonus.min_orders:
        activity = replace(activity, bonus_awarded=True)
        awards.append(Award("monthly_bonus", bonus.points, bonus.growth, f"{month}: {activity.orders} orders"))
    months[month] = activity
    for old in sorted(months)[:-MONTHS_KEPT]:
        del months[old]
    return awards, months


def _login_award(
    config: ProgramConfig, rule: LoginRule, state: MemberState, event: BusinessEvent
) -> tuple[Award, dict[str, int]]:
    days = dict(state.login_days)
    day = clock.local_date(event.occurred_at, config.time_zone).isoformat()
    if days and len(days) >= LOGIN_DAYS_KEPT and day < min(days):
        return Award("login", 0, 0, "login day no longer tracked"), days
    count = days.get(day, 0) + 1
    days[day] = count
    for old in sorted(days)[:-LOGIN_DAYS_KEPT]:
        del days[old]
    if count > rule.per_local_day:
        return Award("login", 0, 0, f"daily cap of {rule.per_local_day} reached for {day}"), days
    return Award("login", rule.points, rule.growth), days


def _review_award(rule: ReviewRule | PhotoReviewRule, event: BusinessEvent) -> Award:
    price: Decimal = event.attributes["item_price"]
    if price < rule.min_item_price:
        return Award(rule.event_type, 0, 0, f"item price below {rule.min_item_price}")
    if isinstance(rule, PhotoReviewRule) and event.attributes["rank"] > rule.max_rank:
        return Award(rule.event_type, 0, 0, f"only the first {rule.max_rank} photo reviews earn")
    return Award(rule.event_type, rule.points, rule.growth)


def merge_attributes(state: MemberState, changes: Mapping[str, str | None]) -> MemberState:
    """The member with the attributes an event reported: a ``None`` value removes the name.

    Raises :class:`ValidationFailed` (``member_attributes``) when the member would be left with
    more than ``MAX_MEMBER_ATTRIBUTES`` names; one holding more from before can still change
    and remove names.
    """
    if not changes:
        return state
    attributes = dict(state.attributes)
    for name, value in changes.items():
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    if len(attributes) > max(MAX_MEMBER_ATTRIBUTES, len(state.attributes)):
        raise ValidationFailed.field(
            "member_attributes",
            f"a member keeps at most {MAX_MEMBER_ATTRIBUTES} attributes; this event would leave "
            f"{len(attributes)} (remove some with null values)",
        )
    return replace(state, attributes=attributes)


def apply_event(config: ProgramConfig, state: MemberState, event: BusinessEvent) -> EarnOutcome:
    """Apply the program's earning rules to one event.

    Member attributes reported with the event take effect first (they may change the growth
    coefficient; a ``None`` value removes the name). Points become one lot with the policy's
    expiry; growth may upgrade the tier. An event no rule rewards still counts (login caps,
    monthly order counts). Raises :class:`ValidationFailed` (``member_attributes``) when the
    event would add a name past ``MAX_MEMBER_ATTRIBUTES``.
    """
    state = merge_attributes(state, event.member_attributes)
    rule = config.rule_for(event.type)
    awards: list[Award]
    rates: tuple[Decimal, Decimal] | None = None
    if rule is None:
        awards = [Award(event.type, 0, 0, "no earning rule for this event type")]
    elif isinstance(rule, OrderRule):
        rates = order_rates(config, rule, state)
        awards, months = _order_awards(config, rule, state, event)
        state = replace(state, months=months)
    elif isinstance(rule, LoginRule):
        award, login_days = _login_award(config, rule, state, event)
        awards = [award]
        state = replace(state, login_days=login_days)
    else:
        awards = [_review_award(rule, event)]

    points = sum(a.points for a in awards)
    growth = sum(a.growth for a in awards)
    lot: PointsLot | None = None
    state = replace(state, lots=settle_pending(state.lots, event.occurred_at))
    if points > 0:
        expires_at = lot_expiry(config, event.occurred_at)
        pending = rule.pending_days if isinstance(rule, OrderRule) else 0
        lot = PointsLot(
            expires_at,
            points,
            available_at=event.occurred_at + timedelta(days=pending) if pending else None,
            remind_at=reminder_times(config, expires_at, event.occurred_at),
        )
        state, added = credit(state, lot)
        if added.points < lot.points:
            repaid = lot.points - added.points
            awards.append(Award("debt_repayment", 0, 0, f"{repaid} points paid back a refund's negative balance"))
        lot = added if added.points else None
    new_growth = state.growth + growth
    tier, since, valid_until, change = upgrade_tier(config, state, new_growth, event.occurred_at)
    state = replace(
        state,
        growth=new_growth,
        tier=tier,
        tier_since=since,
        tier_valid_until=valid_until,
    )
    state = record_activity(config, state, event.type, event.occurred_at, new_period=change is not None)
    return EarnOutcome(state, points, growth, tuple(awards), lot, change, rates)


def record_activity(
    config: ProgramConfig, state: MemberState, event_type: str, at: datetime, *, new_period: bool
) -> MemberState:
    """Track qualifying activity for the tier job. A new tier starts a new period when the tier
    starts (``state.tier_since``: the event's time, or the anniversary already evaluated when
    the event is backdated before it), so a backdated event never counts in a later period."""
    period_start = (state.tier_since or at) if new_period else (state.tier_period_start or state.tier_since or at)
    active = False if new_period else state.tier_period_active
    last = state.last_qualifying_at
    if event_type in config.tier_policy.qualifying_events:
        last = at if last is None or at > last else last
        # The event that attains a tier opens its period: activity must come after that, so an
        # idle first year is idle.
        in_period = (
            not new_period and period_start <= at and (state.tier_valid_until is None or at < state.tier_valid_until)
        )
        active = active or in_period
    return replace(state, tier_period_start=period_start, tier_period_active=active, last_qualifying_at=last)


# --- spending -------------------------------------------------------------------------


def spend_points(state: MemberState, points: int, at: datetime, now: datetime | None = None) -> SpendOutcome:
    """Take ``points`` from live lots, soonest-expiring first.

    ``at`` is the spend's business time (a lot must be spendable then), ``now`` when the write
    is recorded: a lot that has expired by then is gone, whatever business time the spend claims.
    Raises :class:`InsufficientPoints` (nothing changes) when the eligible lots hold fewer.
    """
    if points <= 0:
        raise ValueError("a spend takes a positive number of points")
    recorded = at if now is None else max(at, now)

    def eligible(lot: PointsLot) -> bool:
        return is_available(lot, at) and is_live(lot, recorded)

    lots = settle_pending(state.lots, at)
    available = sum(lot.points for lot in lots if eligible(lot))
    if points > available:
        raise InsufficientPoints(points, available)
    lots, drawn = take_points(lots, points, eligible)
    new_state = replace(state, lots=lots, points_balance=state.points_balance - points)
    return SpendOutcome(new_state, drawn)


def take_points(
    lots: tuple[PointsLot, ...], points: int, eligible: Callable[[PointsLot], bool]
) -> tuple[tuple[PointsLot, ...], tuple[PointsLot, ...]]:
    """Take up to ``points`` from the ``eligible`` lots, soonest-expiring first.

    Returns (lots left, what was drawn from each lot as ``PointsLot(expires_at, points)``).
    """
    remaining = points
    drawn: list[PointsLot] = []
    left: list[PointsLot] = []
    for lot in sort_lots(lots):
        take = min(lot.points, remaining) if remaining and eligible(lot) else 0
        if take:
            drawn.append(PointsLot(lot.expires_at, take))
            remaining -= take
        if lot.points - take:
            left.append(replace(lot, points=lot.points - take))
    return tuple(left), tuple(drawn)
