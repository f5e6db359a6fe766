"""Points after they are earned: refunds, redemption reversals, expiry and its reminders. Pure.

Every function takes the member's state and returns the new state with what it did, so the
ledger entry can say exactly which lots each change touched; the caller persists both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, localcontext

from shared import clock
from shared.errors import RefundExceedsOrder
from shared.program import ProgramConfig
from shared.rules import (
    MemberState,
    PointsLot,
    TierChange,
    add_lot,
    credit,
    floor_int,
    is_available,
    is_live,
    reminder_times,
    settle_pending,
    sort_lots,
    take_points,
)

# --- refunds --------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRecord:
    """What one completed order earned, and how much of it refunds have reversed so far."""

    order_id: str
    event_id: str
    amount: Decimal
    points: int
    growth: int
    lot_expires_at: datetime | None
    lot_available_at: datetime | None
    member_id: str = ""
    """Who reported it: an order id is unique in its program."""
    occurred_at: datetime | None = None
    """The order's business time: no refund of it may predate it."""
    points_rate: Decimal | None = None
    """Points per whole unit it earned at (points per unit x tier multiplier): what a kept
    amount would earn. ``None`` on records written before rates were kept (then: proportional)."""
    growth_rate: Decimal | None = None
    """Growth per unit it earned at (growth per unit x coefficient)."""
    refunded_amount: Decimal = Decimal(0)
    refunded_points: int = 0
    refunded_growth: int = 0
    refund_ids: tuple[str, ...] = ()
    """The refunds applied, by ``event_id``: a read that sees this record after a refund but not
    the refund's own request record (BatchGetItem reads items one by one) reads again."""
    version: int = 1


@dataclass(frozen=True)
class RefundOutcome:
    state: MemberState
    order: OrderRecord
    points_reversed: int
    """Points the refund reversed in all: taken from lots plus any new negative balance."""
    growth_reversed: int
    drawn: tuple[PointsLot, ...]
    """Lots the points came from: the order's own lot first, then soonest-expiring."""
    debt_added: int
    forgiven: int
    """Points the order earned that were already spent and that policy ``clamp`` let go."""
    lapsed: int
    """Points of an order whose lot had expired by the refund: gone already, not taken again."""
    tier_change: TierChange | None


def kept_award(order: OrderRecord, kept: Decimal) -> tuple[int, int]:
    """(points, growth) an order keeps when ``kept`` of its amount is not refunded: what ``kept``
    would have earned at the order's own rates, with the earning rounding (points: whole units
    times the rate, floored; growth: the amount times the rate, floored), never more than the
    order earned. Cumulative (computed from what is kept, not per refund), so partial refunds
    never drift, and an order never keeps more than its kept amount would earn."""
    if kept <= 0:
        return 0, 0
    with localcontext() as exact:
        exact.prec = 80
        if order.points_rate is None or order.growth_rate is None:
            # Records from before rates were kept: the proportional share, floored.
            return (
                floor_int(Decimal(order.points) * kept / order.amount),
                floor_int(Decimal(order.growth) * kept / order.amount),
            )
        points = floor_int(floor_int(kept) * order.points_rate)
        growth = floor_int(kept * order.growth_rate)
    return min(points, order.points), min(growth, order.growth)


def apply_refund(
    config: ProgramConfig,
    state: MemberState,
    order: OrderRecord,
    amount: Decimal,
    at: datetime,
    now: datetime | None = None,
) -> RefundOutcome:
    """Reverse ``amount`` of ``order``: its points and growth in proportion, from its own lot first.

    ``at`` is the refund's business time (a tier it drops starts then); ``now`` the time the state
    is as of: lots expired by either are gone (the sweep may have removed them already), so an
    order whose lot expired is not charged again from other lots.
    Raises :class:`RefundExceedsOrder` when the refunds of the order would exceed its amount.
    """
    # A tier the refund drops never starts before the current tier's own start or period: no
    # write moves a member's tier dates before the events that set them.
    tier_time = max(moment for moment in (at, state.tier_since, state.tier_period_start) if moment is not None)
    at = max(at, now) if now is not None else at
    if amount <= 0:
        raise ValueError("a refund takes a positive amount")
    refunded = order.refunded_amount + amount
    if refunded > order.amount:
        raise RefundExceedsOrder(order.order_id, order.amount, order.refunded_amount)
    kept_points, kept_growth = kept_award(order, order.amount - refunded)
    points = order.points - kept_points - order.refunded_points
    lapsed = 0
    if order.lot_expires_at is not None and order.lot_expires_at <= at:
        # The order's points expired (or were spent before they would have): nothing of
        # theirs is left to take back, and the member's other points are not charged for them.
        points, lapsed = 0, points
    growth = min(order.growth - kept_growth - order.refunded_growth, state.growth)
    lots = settle_pending(state.lots, at)

    def own(lot: PointsLot) -> bool:
        if not is_live(lot, at) or lot.expires_at != order.lot_expires_at:
            return False
        # the order's lot, pending still or settled since
        return lot.available_at == order.lot_available_at or lot.available_at is None

    # The order's own (pending) lot first, then the settled one of the same expiry.
    own_first = sorted((lot for lot in lots if own(lot)), key=lambda lot: lot.available_at is None)
    drawn: list[PointsLot] = []
    remaining = points
    for target in own_first:
        lots, taken = take_points(lots, remaining, _same_key(target))
        drawn.extend(taken)
        remaining -= sum(d.points for d in taken)
    # Then other lots, soonest-expiring first: spendable ones before other orders' pending ones.
    for eligible in (lambda lot: is_available(lot, at), lambda lot: is_live(lot, at)):
        lots, taken = take_points(lots, remaining, eligible)
        drawn.extend(taken)
        remaining -= sum(d.points for d in taken)
    debt = remaining if config.refunds.negative_balance == "allow" else 0
    forgiven = remaining - debt
    charged = points - forgiven
    new_growth = state.growth - growth
    owed = dict(state.forgiven)
    if forgiven:
        # Spent already: the refund lets them go, but a redemption recorded before this refund
        # that is reversed later gives them back to the refund, not to the member (a refund and
        # a reversal end the same in either order). This refund is the member's next entry.
        owed[state.ledger_seq + 1] = forgiven
    new_state = replace(
        state,
        lots=lots,
        points_debt=state.points_debt + debt,
        points_balance=state.points_balance - charged,
        growth=new_growth,
        forgiven=owed,
    )
    new_state, change = _tier_after_refund(config, new_state, tier_time)
    new_order = replace(
        order,
        refunded_amount=refunded,
        refunded_points=order.refunded_points + points + lapsed,
        refunded_growth=order.refunded_growth + growth,
        version=order.version + 1,
    )
    return RefundOutcome(new_state, new_order, charged, growth, tuple(drawn), debt, forgiven, lapsed, change)


def _same_key(target: PointsLot) -> Callable[[PointsLot], bool]:
    return lambda lot: lot.key == target.key


def _tier_after_refund(
    config: ProgramConfig, state: MemberState, at: datetime
) -> tuple[MemberState, TierChange | None]:
    """A tier whose threshold the remaining growth no longer reaches falls to the tier it does."""
    current = config.tier(state.tier or config.tiers[0].code)
    if state.growth >= current.min_growth:
        return state, None
    lower = config.tier_for_growth(state.growth)
    valid_until = clock.add_months_utc(at, lower.validity_months, config.time_zone) if lower.validity_months else None
    return (
        replace(
            state,
            tier=lower.code,
            tier_since=at,
            tier_valid_until=valid_until,
            tier_period_start=at,
            tier_period_active=False,
        ),
        TierChange(current.code, lower.code, "refund"),
    )


# --- redemption reversal --------------------------------------------------------------


@dataclass(frozen=True)
class ReversalOutcome:
    state: MemberState
    returned: tuple[PointsLot, ...]
    """Points given back to the member, to the lot (expiry) each came from."""
    lost: tuple[PointsLot, ...]
    """Points whose lot expired since the redemption: not revived."""
    to_refunds: tuple[PointsLot, ...]
    """Points that go to refunds recorded after the redemption, which could not take them back
    because this redemption had spent them (policy ``clamp``): never to the member."""
    left: tuple[PointsLot, ...]
    """What is still unreversed of the redemption after this reversal."""

    @property
    def reversed_points(self) -> int:
        return sum(lot.points for lot in (*self.returned, *self.lost, *self.to_refunds))


def unreversed(left: tuple[PointsLot, ...]) -> int:
    return sum(lot.points for lot in left)


def take_back(left: tuple[PointsLot, ...], points: int) -> tuple[tuple[PointsLot, ...], tuple[PointsLot, ...]]:
    """(taken, left after): ``points`` of a redemption's unreversed lots, the points drawn last
    (latest-expiring) first, as an undo would."""
    taken: list[PointsLot] = []
    kept: list[PointsLot] = []
    remaining = points
    for lot in reversed(sort_lots(left)):
        take = min(lot.points, remaining)
        remaining -= take
        if take:
            taken.append(PointsLot(lot.expires_at, take))
        if lot.points - take:
            kept.append(PointsLot(lot.expires_at, lot.points - take))
    return sort_lots(taken), sort_lots(kept)


def reverse_redemption(
    config: ProgramConfig,
    state: MemberState,
    left: tuple[PointsLot, ...],
    at: datetime,
    *,
    redeemed_seq: int,
    points: int | None = None,
) -> ReversalOutcome:
    """Give ``points`` (all that is left when ``None``) of a redemption back to the lots they
    came from: expired lots stay expired, and points that refunds recorded after the redemption
    (``redeemed_seq``) could not take back go to those refunds first."""
    taken, left_after = take_back(left, unreversed(left) if points is None else points)
    live = [lot for lot in taken if lot.expires_at is None or lot.expires_at > at]
    lost = tuple(lot for lot in taken if lot.expires_at is not None and lot.expires_at <= at)
    owed = dict(state.forgiven)
    due = sorted(seq for seq in owed if seq > redeemed_seq)
    to_refunds: list[PointsLot] = []
    for seq in due:
        live_left, paid = take_points(tuple(live), owed[seq], lambda _lot: True)
        live = list(live_left)
        to_refunds.extend(paid)
        owed[seq] -= sum(lot.points for lot in paid)
        if not owed[seq]:
            del owed[seq]
    state = replace(state, forgiven=owed)
    returned: list[PointsLot] = []
    for lot in sort_lots(live):
        state, _added = credit(
            state, PointsLot(lot.expires_at, lot.points, remind_at=_reminders(config, state, lot, at))
        )
        returned.append(lot)
    return ReversalOutcome(state, tuple(returned), lost, _merge_drawn(to_refunds), left_after)


def _merge_drawn(lots: list[PointsLot]) -> tuple[PointsLot, ...]:
    merged: tuple[PointsLot, ...] = ()
    for lot in lots:
        merged = add_lot(merged, lot)
    return merged


def _reminders(config: ProgramConfig, state: MemberState, lot: PointsLot, at: datetime) -> tuple[datetime, ...]:
    # Points rejoining a lot that still exists take its reminders (add_lot keeps them); a lot
    # that is gone comes back with the reminders still ahead of now.
    if any(existing.key == lot.key for existing in state.lots):
        return ()
    return reminder_times(config, lot.expires_at, at)


# --- expiry sweep ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    expires_at: datetime
    points: int
    days_before: int
    """The configured window this reminder announces (the nearest one, when several are due)."""


@dataclass(frozen=True)
class SweepOutcome:
    state: MemberState
    expired: tuple[PointsLot, ...]
    reminders: tuple[Reminder, ...]

    @property
    def expired_points(self) -> int:
        return sum(lot.points for lot in self.expired)


def sweep(state: MemberState, now: datetime) -> SweepOutcome | None:
    """Expire every lot due by ``now`` and collect the reminders due; ``None`` when nothing is."""
    expired: list[PointsLot] = []
    reminders: list[Reminder] = []
    kept: tuple[PointsLot, ...] = ()
    for lot in settle_pending(state.lots, now):
        if lot.points > 0 and lot.expires_at is not None and lot.expires_at <= now:
            expired.append(PointsLot(lot.expires_at, lot.points))
            continue
        due = [moment for moment in lot.remind_at if moment <= now]
        if due and lot.expires_at is not None and lot.points > 0:
            days = round((lot.expires_at - max(due)).total_seconds() / 86400)
            reminders.append(Reminder(lot.expires_at, lot.points, days))
            lot = replace(lot, remind_at=tuple(m for m in lot.remind_at if m > now))
        kept = add_lot(kept, lot)
    if not expired and not reminders:
        return None
    gone = sum(lot.points for lot in expired)
    new_state = replace(state, lots=kept, points_balance=state.points_balance - gone)
    return SweepOutcome(new_state, tuple(expired), tuple(reminders))
