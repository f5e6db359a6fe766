"""Points after they are earned: pending points, refunds, redemption reversals, expiry sweeps.

Default program: Asia/Shanghai (UTC+8), year_end expiry one year after (points earned in 2026
expire at 2027-12-31T16:00Z), reminders 30 and 7 days before, refunds clamp by default.
Orders earn floor(amount) points and floor(amount) growth (Registered/Bronze multiplier 1).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InsufficientPoints, RefundExceedsOrder
from shared.points import OrderRecord, Reminder, apply_refund, kept_award, reverse_redemption, sweep
from shared.program import OrderRule, ProgramConfig
from shared.rules import (
    BusinessEvent,
    MemberState,
    PointsLot,
    TierChange,
    apply_event,
    available_points,
    floor_int,
    is_live,
    lot_expiry,
    next_expiry_action,
    pending_lots,
    settle_pending,
    spend_points,
)

ConfigFactory = Callable[..., ProgramConfig]
DEFAULT_PROGRAM_FILE = Path(__file__).resolve().parents[2] / "config" / "programs" / "default.json"
_numbers = count(1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


EXP_2026 = utc("2026-12-31T16:00:00Z")  # points earned in 2025 (Shanghai)
EXP_2027 = utc("2027-12-31T16:00:00Z")  # points earned in 2026
EXP_2028 = utc("2028-12-31T16:00:00Z")  # points earned in 2027
T0 = utc("2026-03-10T04:00:00Z")


def new_member() -> MemberState:
    return MemberState(program_id="default", member_id="m-1")


def check(state: MemberState) -> MemberState:
    """The invariant after every step: balance = lots - debt, lots positive, debt never negative."""
    assert state.points_balance == sum(lot.points for lot in state.lots) - state.points_debt
    assert all(lot.points > 0 for lot in state.lots)
    assert state.points_debt >= 0
    assert state.growth >= 0
    return state


def earn(config: ProgramConfig, state: MemberState, at: datetime, amount: str) -> tuple[MemberState, OrderRecord]:
    """Complete an order at the default rates (1 point and 1 growth per unit, times the tier's
    multiplier), and keep its record the way the engine does (its own award only)."""
    multiplier = config.tier(state.tier or config.tiers[0].code).points_multiplier
    state, record = earn_at_rates(config, state, at, amount)
    assert record.points == floor_int(floor_int(Decimal(amount)) * multiplier)
    assert record.growth == floor_int(Decimal(amount))
    return state, record


def policy(make_config: ConfigFactory, negative_balance: str, pending_days: int = 0, **overrides: Any) -> ProgramConfig:
    def edit(raw: dict[str, Any]) -> None:
        raw["refunds"] = {"negative_balance": negative_balance}
        raw["earning_rules"][0]["pending_days"] = pending_days

    return make_config(edit=edit, **overrides)


@pytest.fixture(params=["clamp", "allow"])
def any_policy(request: pytest.FixtureRequest, make_config: ConfigFactory) -> ProgramConfig:
    return policy(make_config, request.param)


@pytest.fixture
def pending_config(make_config: ConfigFactory) -> ProgramConfig:
    return policy(make_config, "clamp", pending_days=7)


# --- (a) pending points ------------------------------------------------------------------------------


def test_pending_order_points_are_not_available_until_the_return_window_ends(pending_config: ProgramConfig) -> None:
    # Given an order of 100.00 with a 7-day pending period
    state, _ = earn(pending_config, new_member(), T0, "100.00")
    settles = T0 + timedelta(days=7)

    # Then its lot is pending: counted in the balance, not available, listed as pending
    assert state.points_balance == 100
    assert state.lots == (PointsLot(EXP_2027, 100, available_at=settles),)
    assert available_points(state.lots, T0) == 0
    assert pending_lots(state.lots, T0) == [PointsLot(EXP_2027, 100, available_at=settles)]

    # When a spend is attempted inside the window / Then it is refused: nothing is available
    with pytest.raises(InsufficientPoints) as refused:
        spend_points(state, 1, settles - timedelta(microseconds=1))
    assert refused.value.details[0]["available"] == 0

    # When the window is over (exactly 7 days later) / Then the points are available and spendable
    assert available_points(state.lots, settles) == 100
    assert pending_lots(state.lots, settles) == []
    spent = spend_points(state, 100, settles)
    assert spent.drawn == (PointsLot(EXP_2027, 100),)
    assert check(spent.state).points_balance == 0


def test_spend_uses_only_the_available_part_when_some_points_are_pending(
    make_config: ConfigFactory, pending_config: ProgramConfig
) -> None:
    # Given 50 available points (earned before the pending rule) and a pending order of 100
    state, _ = earn(make_config(), new_member(), T0, "50")
    state, _ = earn(pending_config, state, T0 + timedelta(days=1), "100")

    # When 60 are spent while the order is pending / Then the spend is refused with 50 available
    with pytest.raises(InsufficientPoints) as refused:
        spend_points(state, 60, T0 + timedelta(days=2))
    assert refused.value.details[0] == {"field": "points", "requested": 60, "available": 50}

    # And 50 can be spent, leaving only the pending lot
    spent = spend_points(state, 50, T0 + timedelta(days=2))
    assert spent.state.lots == (PointsLot(EXP_2027, 100, available_at=T0 + timedelta(days=8)),)


def test_settled_pending_lot_merges_with_the_lot_of_the_same_expiry(
    make_config: ConfigFactory, pending_config: ProgramConfig
) -> None:
    # Given 50 available points and a pending order of 100, both expiring at the end of 2027
    state, _ = earn(make_config(), new_member(), T0, "50")
    state, _ = earn(pending_config, state, T0 + timedelta(days=1), "100")
    settles = T0 + timedelta(days=8)
    assert len(state.lots) == 2

    # When settled just before the window ends / Then still two lots
    assert settle_pending(state.lots, settles - timedelta(microseconds=1)) == state.lots

    # When settled at the end of the window / Then one available lot of 150
    assert settle_pending(state.lots, settles) == (PointsLot(EXP_2027, 150),)


def test_earning_settles_earlier_pending_lots(pending_config: ProgramConfig) -> None:
    # Given a pending order at T0 and a second order 10 days later (the first has settled)
    state, _ = earn(pending_config, new_member(), T0, "100")
    state, _ = earn(pending_config, state, T0 + timedelta(days=10), "60")

    # Then the first is a plain lot, the second pending until its own window ends
    assert state.lots == (
        PointsLot(EXP_2027, 100),
        PointsLot(EXP_2027, 60, available_at=T0 + timedelta(days=17)),
    )
    assert settle_pending(state.lots, T0 + timedelta(days=17)) == (PointsLot(EXP_2027, 160),)


# --- (b) refunds ------------------------------------------------------------------------------------


def test_full_refund_of_untouched_points_reverses_everything(any_policy: ProgramConfig) -> None:
    # Given an order of 100.00 whose points are untouched
    state, record = earn(any_policy, new_member(), T0, "100.00")
    assert (record.points, record.growth) == (100, 100)

    # When it is refunded in full
    outcome = apply_refund(any_policy, state, record, Decimal("100.00"), T0 + timedelta(days=2))

    # Then its 100 points and 100 growth are reversed from its own lot, with no debt or forgiveness
    assert (outcome.points_reversed, outcome.growth_reversed) == (100, 100)
    assert outcome.drawn == (PointsLot(EXP_2027, 100),)
    assert (outcome.debt_added, outcome.forgiven) == (0, 0)
    assert check(outcome.state).lots == ()
    assert (outcome.state.points_balance, outcome.state.growth) == (0, 0)
    assert outcome.order.refunded_amount == Decimal("100.00")
    assert (outcome.order.refunded_points, outcome.order.refunded_growth, outcome.order.version) == (100, 100, 2)
    # growth 0 no longer reaches Bronze (1)
    assert outcome.tier_change == TierChange("bronze", "registered", "refund")


def test_three_partial_refunds_reverse_exactly_the_whole_order(any_policy: ProgramConfig) -> None:
    # Given an order of 100.00 (100 points, 100 growth) and another lot that must stay whole
    state, _ = earn(any_policy, new_member(), utc("2025-06-01T04:00:00Z"), "40")
    state, record = earn(any_policy, state, T0, "100.00")

    # When it is refunded in three parts: 33.33, 33.33, 33.34
    reversed_points: list[int] = []
    reversed_growth: list[int] = []
    for amount in ("33.33", "33.33", "33.34"):
        outcome = apply_refund(any_policy, state, record, Decimal(amount), T0 + timedelta(days=1))
        state, record = check(outcome.state), outcome.order
        reversed_points.append(outcome.points_reversed)
        reversed_growth.append(outcome.growth_reversed)

    # Then the order keeps what its kept amount earns (66.67 -> 66, 33.34 -> 33, 0 -> 0), so the
    # reversals are 100 - 66, 66 - 33, 33 - 0: cumulative, no drift
    assert reversed_points == [34, 33, 33]
    assert reversed_growth == [34, 33, 33]
    assert record.refunded_amount == Decimal("100.00")
    assert (record.refunded_points, record.refunded_growth) == (100, 100)
    assert state.lots == (PointsLot(EXP_2026, 40),)
    assert (state.points_balance, state.growth) == (40, 40)

    # And nothing more can be refunded
    with pytest.raises(RefundExceedsOrder):
        apply_refund(any_policy, state, record, Decimal("0.01"), T0 + timedelta(days=1))


def test_partial_refund_shares_floor_cumulatively_on_a_fractional_amount(default_config: ProgramConfig) -> None:
    # Given an order of 250.50 (250 points)
    state, record = earn(default_config, new_member(), T0, "250.50")

    # When 0.50 is refunded / Then the kept 250.00 still earns 250 points: 0 reversed
    first = apply_refund(default_config, state, record, Decimal("0.50"), T0)
    assert first.points_reversed == 0
    assert check(first.state).points_balance == 250

    # When the remaining 250.00 is refunded / Then all 250 are reversed
    second = apply_refund(default_config, first.state, first.order, Decimal("250.00"), T0)
    assert second.points_reversed == 250
    assert check(second.state).points_balance == 0


def test_refund_exceeding_the_order_is_refused(default_config: ProgramConfig) -> None:
    # Given an order of 100.00 of which 60.00 is refunded
    state, record = earn(default_config, new_member(), T0, "100.00")
    first = apply_refund(default_config, state, record, Decimal("60.00"), T0)

    # When 40.01 more is refunded / Then RefundExceedsOrder names what is already refunded
    with pytest.raises(RefundExceedsOrder) as refused:
        apply_refund(default_config, first.state, first.order, Decimal("40.01"), T0)
    assert refused.value.details[0]["already_refunded"] == "60.00"

    # And exactly the rest (40.00) is accepted
    rest = apply_refund(default_config, first.state, first.order, Decimal("40.00"), T0)
    assert rest.points_reversed == 40


def test_clamp_refund_after_partial_spend_stops_at_zero_and_reports_forgiven(make_config: ConfigFactory) -> None:
    # Given an order of 100.00 of which 80 points were spent (policy clamp)
    config = policy(make_config, "clamp")
    state, record = earn(config, new_member(), T0, "100.00")
    state = check(spend_points(state, 80, T0 + timedelta(days=1)).state)

    # When the order is refunded in full
    outcome = apply_refund(config, state, record, Decimal("100.00"), T0 + timedelta(days=2))

    # Then the 20 left are taken back and the 80 spent are forgiven: the balance stops at 0
    assert outcome.drawn == (PointsLot(EXP_2027, 20),)
    assert (outcome.points_reversed, outcome.forgiven, outcome.debt_added) == (20, 80, 0)
    assert check(outcome.state).points_balance == 0
    assert outcome.state.points_debt == 0
    # and the order counts all 100 points as refunded (20 taken back, 80 forgiven)
    assert outcome.order.refunded_points == 100


def test_allow_refund_after_partial_spend_creates_debt_that_later_earnings_pay(make_config: ConfigFactory) -> None:
    # Given an order of 100.00 of which 80 points were spent (policy allow)
    config = policy(make_config, "allow")
    state, record = earn(config, new_member(), T0, "100.00")
    state = check(spend_points(state, 80, T0 + timedelta(days=1)).state)

    # When the order is refunded in full
    refund = apply_refund(config, state, record, Decimal("100.00"), T0 + timedelta(days=2))

    # Then 20 come from the lot and 80 become a debt: the balance is -80
    assert refund.drawn == (PointsLot(EXP_2027, 20),)
    assert (refund.points_reversed, refund.debt_added, refund.forgiven) == (100, 80, 0)
    state = check(refund.state)
    assert (state.points_balance, state.points_debt, state.lots) == (-80, 80, ())
    with pytest.raises(InsufficientPoints):
        spend_points(state, 1, T0 + timedelta(days=2))

    # When the member earns 50 / Then all 50 pay the debt: no lot, balance -30
    state, _ = earn(config, state, T0 + timedelta(days=3), "50")
    assert (state.points_balance, state.points_debt, state.lots) == (-30, 30, ())

    # When the member earns 100 more / Then 30 finish the debt and 70 make a lot
    state, _ = earn(config, state, T0 + timedelta(days=4), "100")
    assert (state.points_balance, state.points_debt) == (70, 0)
    assert state.lots == (PointsLot(EXP_2027, 70),)


def test_earning_reports_the_debt_repayment(make_config: ConfigFactory) -> None:
    # Given a member with a debt of 80 (allow)
    config = policy(make_config, "allow")
    state, record = earn(config, new_member(), T0, "100")
    state = spend_points(state, 80, T0).state
    state = apply_refund(config, state, record, Decimal("100"), T0).state

    # When an order earns 30
    event = BusinessEvent("e-debt", "order_completed", T0 + timedelta(hours=1), {"settled_amount": Decimal("30")})
    outcome = apply_event(config, state, event)

    # Then the order still reports 30 earned (the balance rises by 30), no lot, and a repayment award
    assert outcome.points == 30
    assert outcome.lot is None
    assert outcome.state.points_balance == -50
    assert [a.rule for a in outcome.awards][-1] == "debt_repayment"


@pytest.mark.parametrize("negative_balance", ["clamp", "allow"])
def test_refund_takes_from_the_orders_own_lot_first_then_soonest_expiring(
    make_config: ConfigFactory, negative_balance: str
) -> None:
    # Given lots expiring 2026 (100), 2027 (200, the refunded order's), 2028 (300) and never (40),
    # the last two earned in 2026 after policy changes (year_end 2 years after, then never)
    year_end = policy(make_config, negative_balance)
    two_years = policy(make_config, negative_balance, expiry={"policy": "year_end", "years_after": 2})
    never = policy(make_config, negative_balance, expiry={"policy": "never"})
    state, _ = earn(year_end, new_member(), utc("2025-06-01T04:00:00Z"), "100")
    state, refunded = earn(year_end, state, utc("2026-06-01T04:00:00Z"), "200")
    state, _ = earn(two_years, state, utc("2026-06-02T04:00:00Z"), "300")
    state, _ = earn(never, state, utc("2026-06-03T04:00:00Z"), "40")
    at = utc("2026-07-01T04:00:00Z")

    # When half of the 2026 order is refunded / Then its own lot pays, though the 2026 lot expires sooner
    half = apply_refund(year_end, state, refunded, Decimal("100"), at)
    assert half.drawn == (PointsLot(EXP_2027, 100),)
    assert check(half.state).lots == (
        PointsLot(EXP_2026, 100),
        PointsLot(EXP_2027, 100),
        PointsLot(EXP_2028, 300),
        PointsLot(None, 40),
    )

    # Given 150 are then spent, soonest first: 100 expiring 2026, 50 of the order's lot
    state = check(spend_points(half.state, 150, at).state)
    assert state.lots == (PointsLot(EXP_2027, 50), PointsLot(EXP_2028, 300), PointsLot(None, 40))

    # When the rest of the order is refunded (100 points)
    rest = apply_refund(year_end, state, half.order, Decimal("100"), at)

    # Then its own lot gives its 50 and the soonest-expiring other lot (2028, not never) the other 50
    assert rest.drawn == (PointsLot(EXP_2027, 50), PointsLot(EXP_2028, 50))
    assert (rest.points_reversed, rest.debt_added, rest.forgiven) == (100, 0, 0)
    assert check(rest.state).lots == (PointsLot(EXP_2028, 250), PointsLot(None, 40))


def test_refund_of_a_pending_order_removes_its_points_from_pending(pending_config: ProgramConfig) -> None:
    # Given a settled order A (100) and a pending order B (60), same expiry
    state, _ = earn(pending_config, new_member(), T0, "100")
    state, order_b = earn(pending_config, state, T0 + timedelta(days=10), "60")
    at = T0 + timedelta(days=11)
    assert pending_lots(state.lots, at) == [PointsLot(EXP_2027, 60, available_at=T0 + timedelta(days=17))]

    # When half of B is refunded / Then its pending lot shrinks; the available lot is untouched
    half = apply_refund(pending_config, state, order_b, Decimal("30"), at)
    assert half.drawn == (PointsLot(EXP_2027, 30),)
    assert check(half.state).lots == (
        PointsLot(EXP_2027, 100),
        PointsLot(EXP_2027, 30, available_at=T0 + timedelta(days=17)),
    )

    # When the rest of B is refunded / Then nothing is pending and the available 100 remain
    rest = apply_refund(pending_config, half.state, half.order, Decimal("30"), at)
    assert pending_lots(rest.state.lots, at) == []
    assert check(rest.state).lots == (PointsLot(EXP_2027, 100),)
    assert available_points(rest.state.lots, at) == 100


def test_refund_after_the_pending_lot_settled_and_merged_takes_from_the_merged_lot(
    pending_config: ProgramConfig,
) -> None:
    # Given two orders of 100 and 60 that have both settled into one lot of 160
    state, _ = earn(pending_config, new_member(), T0, "100")
    state, order_b = earn(pending_config, state, T0 + timedelta(days=1), "60")
    at = T0 + timedelta(days=9)

    # When B is refunded / Then its 60 come out of the merged lot
    outcome = apply_refund(pending_config, state, order_b, Decimal("60"), at)
    assert outcome.drawn == (PointsLot(EXP_2027, 60),)
    assert check(outcome.state).lots == (PointsLot(EXP_2027, 100),)


def test_refund_drops_the_tier_when_growth_falls_below_its_threshold(default_config: ProgramConfig) -> None:
    # Given a Silver member (growth 2500 from one order)
    state, record = earn(default_config, new_member(), T0, "2500")
    assert state.tier == "silver"

    # When 400.00 is refunded / Then growth 2100 keeps Silver
    kept = apply_refund(default_config, state, record, Decimal("400"), T0 + timedelta(days=1))
    assert kept.state.growth == 2100
    assert kept.state.tier == "silver"
    assert kept.tier_change is None

    # When 200.00 more is refunded / Then growth 1900 falls to Bronze, because of the refund, from now
    at = T0 + timedelta(days=2)
    dropped = apply_refund(default_config, kept.state, kept.order, Decimal("200"), at)
    assert dropped.state.growth == 1900
    assert dropped.tier_change == TierChange("silver", "bronze", "refund")
    assert (dropped.state.tier, dropped.state.tier_since, dropped.state.tier_valid_until) == ("bronze", at, None)


def test_refund_from_gold_to_silver_starts_a_new_silver_validity(default_config: ProgramConfig) -> None:
    # Given a Gold member (growth 12000)
    state, record = earn(default_config, new_member(), T0, "12000")
    assert state.tier == "gold"

    # When 3000.00 is refunded / Then growth 9000 is Silver, valid 12 months from the refund
    at = utc("2026-04-01T04:00:00Z")
    outcome = apply_refund(default_config, state, record, Decimal("3000"), at)
    assert outcome.tier_change == TierChange("gold", "silver", "refund")
    assert outcome.state.tier_valid_until == utc("2027-04-01T04:00:00Z")
    assert outcome.state.tier_period_start == at


def test_refund_never_takes_growth_below_zero(default_config: ProgramConfig) -> None:
    # Given an order that earned 100 growth, of which an anniversary deduction left only 30
    state, record = earn(default_config, new_member(), T0, "100")
    state = replace(state, growth=30)

    # When it is refunded in full / Then only 30 growth is reversed: growth stops at 0
    outcome = apply_refund(default_config, state, record, Decimal("100"), T0)
    assert outcome.growth_reversed == 30
    assert outcome.state.growth == 0
    assert outcome.order.refunded_growth == 30
    assert outcome.points_reversed == 100


# --- (c) redemption reversal ------------------------------------------------------------------------


def test_reversal_returns_points_to_the_lots_they_came_from(default_config: ProgramConfig) -> None:
    # Given lots expiring 2026 (100) and 2027 (200), and a spend of 150 drawn from both
    state, _ = earn(default_config, new_member(), utc("2025-06-01T04:00:00Z"), "100")
    state, _ = earn(default_config, state, utc("2026-06-01T04:00:00Z"), "200")
    spend = spend_points(state, 150, utc("2026-07-01T04:00:00Z"))
    assert spend.drawn == (PointsLot(EXP_2026, 100), PointsLot(EXP_2027, 50))

    # When the redemption is reversed
    at = utc("2026-07-02T04:00:00Z")
    outcome = reverse_redemption(default_config, spend.state, spend.drawn, at, redeemed_seq=0)

    # Then each lot gets its points back, with the same expiry; nothing is lost
    assert outcome.returned == spend.drawn
    assert outcome.lost == ()
    assert check(outcome.state).lots == (PointsLot(EXP_2026, 100), PointsLot(EXP_2027, 200))
    assert outcome.state.points_balance == 300
    # the recreated 2026 lot is reminded again at the windows still ahead (30 and 7 days before)
    assert outcome.state.lots[0].remind_at == (EXP_2026 - timedelta(days=30), EXP_2026 - timedelta(days=7))


def test_reversal_does_not_revive_points_whose_lot_expired(default_config: ProgramConfig) -> None:
    # Given a spend of 150 drawn from the 2026 lot (100) and the 2027 lot (50)
    state, _ = earn(default_config, new_member(), utc("2025-06-01T04:00:00Z"), "100")
    state, _ = earn(default_config, state, utc("2026-06-01T04:00:00Z"), "200")
    spend = spend_points(state, 150, utc("2026-07-01T04:00:00Z"))

    # When it is reversed exactly when the 2026 lot expires
    outcome = reverse_redemption(default_config, spend.state, spend.drawn, EXP_2026, redeemed_seq=0)

    # Then the 2026 points are lost, the 2027 ones return
    assert outcome.returned == (PointsLot(EXP_2027, 50),)
    assert outcome.lost == (PointsLot(EXP_2026, 100),)
    assert check(outcome.state).lots == (PointsLot(EXP_2027, 200),)
    assert outcome.state.points_balance == 200


def test_reversal_pays_a_refund_debt_first(make_config: ConfigFactory) -> None:
    # Given a member who spent 60 of an order's 100 points, then the order was refunded (allow): debt 60
    config = policy(make_config, "allow")
    state, record = earn(config, new_member(), T0, "100")
    spend = spend_points(state, 60, T0 + timedelta(days=1))
    refund = apply_refund(config, spend.state, record, Decimal("100"), T0 + timedelta(days=2))
    assert (check(refund.state).points_balance, refund.state.points_debt) == (-60, 60)

    # When the redemption is reversed
    outcome = reverse_redemption(config, refund.state, spend.drawn, T0 + timedelta(days=3), redeemed_seq=0)

    # Then its 60 points pay the debt, nothing is added to a lot, and the balance is back at 0
    assert outcome.returned == (PointsLot(EXP_2027, 60),)
    assert (check(outcome.state).points_balance, outcome.state.points_debt, outcome.state.lots) == (0, 0, ())


def test_reversal_larger_than_the_debt_pays_it_and_keeps_the_rest(make_config: ConfigFactory) -> None:
    # Given a member who spent all 100 points of an order, then 30.00 of it was refunded (allow): debt 30
    config = policy(make_config, "allow")
    state, record = earn(config, new_member(), T0, "100")
    spend = spend_points(state, 100, T0 + timedelta(days=1))
    refund = apply_refund(config, spend.state, record, Decimal("30"), T0 + timedelta(days=1))
    assert (refund.debt_added, check(refund.state).points_balance) == (30, -30)

    # When the 100-point redemption is reversed / Then 30 pay the debt and 70 return to the lot
    outcome = reverse_redemption(config, refund.state, spend.drawn, T0 + timedelta(days=2), redeemed_seq=0)
    assert outcome.returned == (PointsLot(EXP_2027, 100),)
    assert (check(outcome.state).points_debt, outcome.state.points_balance) == (0, 70)
    assert outcome.state.lots == (PointsLot(EXP_2027, 70),)


# --- (d) expiry sweep and reminders -------------------------------------------------------------------


def test_sweep_expires_exactly_the_lots_due_and_keeps_the_rest() -> None:
    # Given lots expiring 2026 (100) and 2027 (50) and a never-expiring one (20), no reminders pending
    state = MemberState(
        "default",
        "m-1",
        points_balance=170,
        lots=(PointsLot(EXP_2026, 100), PointsLot(EXP_2027, 50), PointsLot(None, 20)),
    )

    # When swept one microsecond before the first expiry / Then nothing is due
    assert sweep(state, EXP_2026 - timedelta(microseconds=1)) is None

    # When swept at the expiry instant / Then exactly the 2026 lot expires; balance falls by 100
    outcome = sweep(state, EXP_2026)
    assert outcome is not None
    assert outcome.expired == (PointsLot(EXP_2026, 100),)
    assert outcome.expired_points == 100
    assert outcome.reminders == ()
    assert check(outcome.state).lots == (PointsLot(EXP_2027, 50), PointsLot(None, 20))
    assert outcome.state.points_balance == 70

    # When swept again at the same time / Then there is nothing left to do
    assert sweep(outcome.state, EXP_2026) is None

    # When swept long after both expiries / Then only the never-expiring lot remains
    late = sweep(outcome.state, EXP_2027 + timedelta(days=400))
    assert late is not None
    assert late.expired == (PointsLot(EXP_2027, 50),)
    assert check(late.state).lots == (PointsLot(None, 20),)


def test_sweep_expires_a_lot_with_debt_keeping_balance_equal_lots_minus_debt() -> None:
    # Given a lot of 100 due (not swept yet) and a debt of 30: balance 70
    state = MemberState("default", "m-1", points_balance=70, points_debt=30, lots=(PointsLot(EXP_2026, 100),))

    # When swept / Then the lot expires, the debt stays: balance -30
    outcome = sweep(state, EXP_2026)
    assert outcome is not None
    assert (check(outcome.state).points_balance, outcome.state.points_debt) == (-30, 30)


def test_reminders_go_out_30_and_7_days_before_once_each(default_config: ProgramConfig) -> None:
    # Given 100 points earned in 2026 (expire at T = 2027-12-31T16:00Z)
    state, _ = earn(default_config, new_member(), T0, "100")
    expiry = EXP_2027
    assert next_expiry_action(state.lots) == expiry - timedelta(days=30)
    assert sweep(state, expiry - timedelta(days=30, microseconds=1)) is None

    # When swept at T - 30d / Then one reminder for the 30-day window
    first = sweep(state, expiry - timedelta(days=30))
    assert first is not None
    assert first.reminders == (Reminder(expiry, 100, 30),)
    assert first.expired == ()
    assert check(first.state).points_balance == 100
    assert next_expiry_action(first.state.lots) == expiry - timedelta(days=7)

    # When swept again an hour later / Then nothing: that window was announced
    assert sweep(first.state, expiry - timedelta(days=30) + timedelta(hours=1)) is None

    # When swept at T - 7d / Then one reminder for the 7-day window
    second = sweep(first.state, expiry - timedelta(days=7))
    assert second is not None
    assert second.reminders == (Reminder(expiry, 100, 7),)
    assert next_expiry_action(second.state.lots) == expiry
    assert sweep(second.state, expiry - timedelta(days=1)) is None

    # When swept at T / Then the lot expires, with no further reminder
    last = sweep(second.state, expiry)
    assert last is not None
    assert (last.expired, last.reminders) == ((PointsLot(expiry, 100),), ())
    assert next_expiry_action(last.state.lots) is None


def test_a_sweep_that_missed_both_windows_sends_one_reminder_for_the_nearest(default_config: ProgramConfig) -> None:
    # Given 100 points expiring at T whose reminders were never sent
    state, _ = earn(default_config, new_member(), T0, "100")

    # When the first sweep runs at T - 5d
    outcome = sweep(state, EXP_2027 - timedelta(days=5))

    # Then one reminder goes out, for the 7-day window, not two
    assert outcome is not None
    assert outcome.reminders == (Reminder(EXP_2027, 100, 7),)
    assert sweep(outcome.state, EXP_2027 - timedelta(days=4)) is None


def test_a_lot_earned_10_days_before_expiry_gets_only_the_7_day_reminder(make_config: ConfigFactory) -> None:
    # Given a 10-day rolling program: points earned on Mar 10 12:00 local expire at the start of Mar 21 local
    config = make_config(expiry={"policy": "rolling_days", "days": 10})
    state, _ = earn(config, new_member(), T0, "100")
    expiry = utc("2026-03-20T16:00:00Z")

    # Then only the 7-day window is ahead
    assert state.lots[0].remind_at == (expiry - timedelta(days=7),)
    assert sweep(state, T0 + timedelta(hours=1)) is None
    outcome = sweep(state, expiry - timedelta(days=7))
    assert outcome is not None
    assert outcome.reminders == (Reminder(expiry, 100, 7),)


def test_a_sweep_reports_reminders_for_several_lots(default_config: ProgramConfig) -> None:
    # Given lots expiring at the end of 2026 and of 2027
    state, _ = earn(default_config, new_member(), utc("2025-06-01T04:00:00Z"), "100")
    state, _ = earn(default_config, state, utc("2026-06-01T04:00:00Z"), "200")
    assert next_expiry_action(state.lots) == EXP_2026 - timedelta(days=30)

    # When swept at the end of 2026 minus 7 days (the 30-day reminder of the first was missed)
    outcome = sweep(state, EXP_2026 - timedelta(days=7))

    # Then only the first lot is announced, for its nearest window
    assert outcome is not None
    assert outcome.reminders == (Reminder(EXP_2026, 100, 7),)
    assert next_expiry_action(outcome.state.lots) == EXP_2026


def test_sweep_expires_a_pending_lot_that_is_due_before_its_window_ends(make_config: ConfigFactory) -> None:
    # Given month_end (same month) with 7 pending days: an order on Mar 28 local expires before it settles
    config = policy(make_config, "clamp", pending_days=7, expiry={"policy": "month_end", "months_after": 0})
    earned = utc("2026-03-28T04:00:00Z")
    expiry = utc("2026-03-31T16:00:00Z")
    state, _ = earn(config, new_member(), earned, "100")
    assert state.lots == (PointsLot(expiry, 100, available_at=earned + timedelta(days=7)),)
    assert available_points(state.lots, expiry - timedelta(microseconds=1)) == 0

    # When swept at its expiry / Then the pending lot expires like any other, never having been spendable
    outcome = sweep(state, expiry)
    assert outcome is not None
    assert outcome.expired == (PointsLot(expiry, 100),)
    assert check(outcome.state).lots == ()
    assert outcome.state.points_balance == 0


def test_settling_alone_is_no_sweep_work(pending_config: ProgramConfig) -> None:
    # Given a pending lot with no reminder or expiry due
    state, _ = earn(pending_config, new_member(), T0, "100")
    # When swept after its window ended / Then there is nothing to write (settling is lazy)
    assert sweep(state, T0 + timedelta(days=8)) is None


def test_merged_lot_keeps_the_reminders_already_sent(default_config: ProgramConfig) -> None:
    # Given 100 points expiring at T whose 30-day reminder went out
    state, _ = earn(default_config, new_member(), T0, "100")
    first = sweep(state, EXP_2027 - timedelta(days=30))
    assert first is not None
    state = first.state

    # When a backdated order (2026-11-01) adds 50 points to the same expiry
    state, _ = earn(default_config, state, utc("2026-11-01T04:00:00Z"), "50")

    # Then the lot is one batch of 150 whose 30-day window is not announced again
    assert state.lots == (PointsLot(EXP_2027, 150),)
    assert state.lots[0].remind_at == (EXP_2027 - timedelta(days=7),)
    assert sweep(state, EXP_2027 - timedelta(days=30) + timedelta(hours=1)) is None
    second = sweep(state, EXP_2027 - timedelta(days=7))
    assert second is not None
    assert second.reminders == (Reminder(EXP_2027, 150, 7),)


def test_reversal_into_an_announced_lot_does_not_announce_it_again(default_config: ProgramConfig) -> None:
    # Given a lot of 100 (expires T) whose 30-day reminder went out, and a spend of 40 from it
    state, _ = earn(default_config, new_member(), T0, "100")
    first = sweep(state, EXP_2027 - timedelta(days=30))
    assert first is not None
    spend = spend_points(first.state, 40, EXP_2027 - timedelta(days=20))

    # When the spend is reversed / Then the lot is 100 again, still only the 7-day reminder ahead
    outcome = reverse_redemption(
        default_config, spend.state, spend.drawn, EXP_2027 - timedelta(days=19), redeemed_seq=0
    )
    assert outcome.state.lots == (PointsLot(EXP_2027, 100),)
    assert outcome.state.lots[0].remind_at == (EXP_2027 - timedelta(days=7),)

    # And when the whole lot was spent and comes back after the 30-day window, only 7 days is ahead
    all_spent = spend_points(first.state, 100, EXP_2027 - timedelta(days=20))
    back = reverse_redemption(
        default_config, all_spent.state, all_spent.drawn, EXP_2027 - timedelta(days=19), redeemed_seq=0
    )
    assert back.state.lots[0].remind_at == (EXP_2027 - timedelta(days=7),)


def test_next_expiry_action_is_the_soonest_reminder_or_expiry_over_all_lots() -> None:
    soon = utc("2026-05-01T00:00:00Z")
    later = utc("2026-09-01T00:00:00Z")
    lots = (
        PointsLot(later, 10, remind_at=(later - timedelta(days=30),)),
        PointsLot(soon, 5),  # all its reminders sent
        PointsLot(None, 7),
    )
    assert next_expiry_action(lots) == soon
    assert next_expiry_action((PointsLot(None, 7),)) is None
    assert next_expiry_action(()) is None


# --- property: random lifecycles keep the books balanced -----------------------------------------


def _property_config(negative_balance: str, expiry: dict[str, Any], pending_days: int) -> ProgramConfig:
    raw = json.loads(DEFAULT_PROGRAM_FILE.read_text())
    raw["refunds"] = {"negative_balance": negative_balance}
    raw["expiry"] = expiry
    raw["earning_rules"][0]["pending_days"] = pending_days
    return ProgramConfig.model_validate(raw)


PROPERTY_CONFIGS = [
    _property_config("clamp", {"policy": "year_end", "years_after": 1}, 0),
    _property_config("allow", {"policy": "year_end", "years_after": 1}, 0),
    _property_config("allow", {"policy": "rolling_days", "days": 20}, 7),
    _property_config("clamp", {"policy": "month_end", "months_after": 0}, 3),
    _property_config("allow", {"policy": "never"}, 0),
]


@dataclass(frozen=True)
class Earn:
    amount: Decimal
    gap_hours: int


@dataclass(frozen=True)
class Spend:
    percent: int
    gap_hours: int


@dataclass(frozen=True)
class Refund:
    order: int
    percent: int
    gap_hours: int


@dataclass(frozen=True)
class Reverse:
    redemption: int
    gap_hours: int


@dataclass(frozen=True)
class Sweep:
    gap_hours: int
    due: bool = False
    """Run when the sweep is next due (``next_expiry_action``), as the scheduled job would."""


# Mostly hours apart, sometimes months (so reminders and expiries come due within one sequence).
gaps = st.one_of(st.integers(min_value=0, max_value=72), st.integers(min_value=0, max_value=24 * 400))
percents = st.one_of(st.integers(min_value=1, max_value=100), st.just(100), st.integers(min_value=101, max_value=150))
lifecycle_ops = st.lists(
    st.one_of(
        st.builds(Earn, amount=st.decimals(min_value=0, max_value=3000, places=2), gap_hours=gaps),
        st.builds(Spend, percent=percents, gap_hours=gaps),
        st.builds(Refund, order=st.integers(min_value=0, max_value=50), percent=percents, gap_hours=gaps),
        st.builds(Reverse, redemption=st.integers(min_value=0, max_value=50), gap_hours=gaps),
        st.builds(Sweep, gap_hours=gaps, due=st.booleans()),
    ),
    min_size=10,
    max_size=30,
)


@settings(max_examples=150, deadline=None, database=None)
@given(config=st.sampled_from(PROPERTY_CONFIGS), ops=lifecycle_ops)
def test_random_lifecycles_keep_balance_equal_to_lots_minus_debt_and_to_the_ledger(
    config: ProgramConfig, ops: list[Earn | Spend | Refund | Reverse | Sweep]
) -> None:
    # Given a new member, its orders and redemptions, and the sum of what each operation reported
    state = new_member()
    orders: list[OrderRecord] = []
    redemptions: list[tuple[PointsLot, ...] | None] = []
    ledger = 0
    now = utc("2026-01-05T04:00:00Z")

    # When random operations happen, in business-time order
    for number, op in enumerate(ops):
        now += timedelta(hours=op.gap_hours)
        if isinstance(op, Earn):
            event = BusinessEvent(
                f"e-{number}", "order_completed", now, {"order_id": f"o-{number}", "settled_amount": op.amount}
            )
            outcome = apply_event(config, state, event)
            own = next(a for a in outcome.awards if a.rule == "order_completed")
            rule = config.rule_for("order_completed")
            pending = rule.pending_days if isinstance(rule, OrderRule) else 0
            orders.append(
                OrderRecord(
                    f"o-{number}",
                    event.event_id,
                    op.amount,
                    own.points,
                    own.growth,
                    lot_expiry(config, now),
                    now + timedelta(days=pending) if pending else None,
                )
            )
            ledger += outcome.points
            state = outcome.state
        elif isinstance(op, Spend):
            available = available_points(state.lots, now)
            points = max(1, available * op.percent // 100)
            if points > available:
                with pytest.raises(InsufficientPoints):
                    spend_points(state, points, now)
            else:
                spent = spend_points(state, points, now)
                assert sum(lot.points for lot in spent.drawn) == points
                ledger -= points
                redemptions.append(spent.drawn)
                state = spent.state
        elif isinstance(op, Refund):
            if not orders:
                continue
            index = op.order % len(orders)
            record = orders[index]
            left = record.amount - record.refunded_amount
            if left == 0:
                with pytest.raises(RefundExceedsOrder):
                    apply_refund(config, state, record, Decimal("0.01"), now)
                continue
            amount = min(left, max(Decimal("0.01"), (left * op.percent / 100).quantize(Decimal("0.01"), ROUND_DOWN)))
            refund = apply_refund(config, state, record, amount, now)
            # Then what the refund reports adds up: drawn + new debt = reversed;
            # reversed + forgiven + lapsed (expired with their lot) = the order's share
            assert sum(lot.points for lot in refund.drawn) + refund.debt_added == refund.points_reversed
            share = refund.order.refunded_points - record.refunded_points
            assert refund.points_reversed + refund.forgiven + refund.lapsed == share
            assert 0 <= refund.order.refunded_points <= record.points
            if refund.order.refunded_amount == record.amount:
                assert refund.order.refunded_points == record.points
            ledger -= refund.points_reversed
            orders[index] = refund.order
            state = refund.state
        elif isinstance(op, Reverse):
            if not redemptions:
                continue
            index = op.redemption % len(redemptions)
            drawn = redemptions[index]
            if drawn is None:
                continue
            reversal = reverse_redemption(config, state, drawn, now, redeemed_seq=0)
            given_back = reversal.returned + reversal.lost + reversal.to_refunds
            assert sum(lot.points for lot in given_back) == sum(lot.points for lot in drawn)
            assert all(lot.expires_at is None or lot.expires_at > now for lot in reversal.returned)
            ledger += sum(lot.points for lot in reversal.returned)
            redemptions[index] = None
            state = reversal.state
        else:
            due = next_expiry_action(state.lots)
            if op.due and due is not None and due > now:
                now = due
            swept = sweep(state, now)
            if swept is not None:
                assert all(lot.expires_at is not None and lot.expires_at <= now for lot in swept.expired)
                ledger -= swept.expired_points
                state = swept.state
            assert all(not (lot.expires_at is not None and lot.expires_at <= now) for lot in state.lots)

        # Then, after every step, the books balance
        check(state)
        assert state.points_balance == ledger
        assert available_points(state.lots, now) >= 0
        if config.refunds.negative_balance == "clamp":
            assert state.points_debt == 0
            assert state.points_balance >= 0
        if state.points_debt:
            # a debt exists only when nothing live is left: every credit pays it first
            assert not any(is_live(lot, now) for lot in state.lots)

    # And a final sweep far in the future leaves only never-expiring points, still balanced
    final = sweep(state, now + timedelta(days=3 * 366))
    if final is not None:
        ledger -= final.expired_points
        state = final.state
    check(state)
    assert state.points_balance == ledger
    assert all(lot.expires_at is None for lot in state.lots)


@pytest.mark.parametrize("negative_balance", ["clamp", "allow"])
def test_refund_after_the_orders_lot_expired_does_not_charge_other_lots(
    make_config: ConfigFactory, negative_balance: str
) -> None:
    # Given order A (2025, 100 points, expired at the end of 2026, not swept yet) and order B (2026, 200)
    config = policy(make_config, negative_balance)
    state, order_a = earn(config, new_member(), utc("2025-06-01T04:00:00Z"), "100")
    state, _ = earn(config, state, utc("2026-06-01T04:00:00Z"), "200")
    at = utc("2027-01-02T00:00:00Z")
    # When A is refunded in full after its points expired
    outcome = apply_refund(config, state, order_a, Decimal("100"), at)
    # Then B's points are not taken for A's expired ones, and no debt is made; growth still goes
    assert outcome.drawn == ()
    assert (outcome.points_reversed, outcome.lapsed, outcome.debt_added) == (0, 100, 0)
    assert outcome.growth_reversed == 100
    swept = sweep(check(outcome.state), at)
    assert swept is not None
    assert check(swept.state).lots == (PointsLot(EXP_2027, 200),)
    assert swept.state.points_balance == 200


def test_a_lot_earned_3_days_before_expiry_is_announced_once_at_once(make_config: ConfigFactory) -> None:
    # Given month_end (same month): an order on Mar 29 00:00 local expires 3 days later, Apr 1 00:00 local
    config = make_config(expiry={"policy": "month_end", "months_after": 0})
    earned = utc("2026-03-28T16:00:00Z")
    expiry = utc("2026-03-31T16:00:00Z")
    state, _ = earn(config, new_member(), earned, "100")
    assert state.lots == (PointsLot(expiry, 100),)
    # When the sweep runs after the earning, before the expiry
    outcome = sweep(state, earned + timedelta(hours=1))
    # Then one reminder goes out at once, telling the 3 days left, and only once
    assert outcome is not None
    assert outcome.reminders == (Reminder(expiry, 100, 3),)
    assert sweep(outcome.state, earned + timedelta(hours=2)) is None


def test_a_refunds_remainder_takes_spendable_points_before_another_orders_pending_ones(
    make_config: ConfigFactory,
) -> None:
    # Given (rolling 100 days, 7-day pending, reviews earn 40 points): order B spent in full,
    # order C pending (expires sooner) and a review's 40 spendable points (expire later)
    def edit(raw: dict[str, Any]) -> None:
        raw["earning_rules"][0]["pending_days"] = 7
        raw["earning_rules"][2]["points"] = 40

    config = make_config(edit=edit, expiry={"policy": "rolling_days", "days": 100})
    state, order_b = earn(config, new_member(), T0, "100")
    state = spend_points(state, 100, T0 + timedelta(days=8)).state
    state, _c = earn(config, state, T0 + timedelta(days=9), "30")  # pending until day 16
    review = BusinessEvent(
        "rv-1", "review_approved", T0 + timedelta(days=10), {"item_id": "i", "item_price": Decimal(50)}
    )
    state = check(apply_event(config, state, review).state)
    pending_c, spendable = sorted(state.lots, key=lambda lot: lot.available_at is None)
    assert pending_c.expires_at is not None and spendable.expires_at is not None
    assert pending_c.expires_at < spendable.expires_at and pending_c.available_at is not None
    # When B (its own lot is empty) is refunded in full at day 11
    outcome = apply_refund(config, state, order_b, Decimal("100"), T0 + timedelta(days=11))
    # Then the review's spendable 40 go first, C's pending 30 only after them, the rest forgiven
    assert outcome.drawn == (PointsLot(spendable.expires_at, 40), PointsLot(pending_c.expires_at, 30))
    assert outcome.forgiven == 30
    assert check(outcome.state).lots == ()


def test_an_order_never_keeps_more_than_its_kept_amount_earns(make_config: ConfigFactory) -> None:
    # Given 1 point per 1000 CNY: an order of 1999 earns 1 point (ERPNext's case)
    def rates(raw: dict[str, Any]) -> None:
        rule = next(r for r in raw["earning_rules"] if r["event_type"] == "order_completed")
        rule["points_per_unit"] = "0.001"
        rule["growth_per_unit"] = "0.001"

    config = make_config(rates)
    state, record = earn_at_rates(config, new_member(), T0, "1999")
    assert (record.points, record.growth) == (1, 1)

    # When 1000 of it is refunded / Then the kept 999 earns 0: the point and the growth go back
    outcome = apply_refund(config, state, record, Decimal("1000"), T0)
    assert (outcome.points_reversed, outcome.growth_reversed) == (1, 1)
    assert check(outcome.state).points_balance == 0


def test_kept_award_uses_the_earning_rounding(make_config: ConfigFactory) -> None:
    # 2 points per whole unit: an order of 2.00 earns 4; with 0.50 refunded the kept 1.50 earns
    # floor(1) x 2 = 2 (not the proportional 3)
    def rates(raw: dict[str, Any]) -> None:
        rule = next(r for r in raw["earning_rules"] if r["event_type"] == "order_completed")
        rule["points_per_unit"] = "2"

    config = make_config(rates)
    state, record = earn_at_rates(config, new_member(), T0, "2.00")
    assert record.points == 4
    assert kept_award(record, Decimal("1.50"))[0] == 2
    outcome = apply_refund(config, state, record, Decimal("0.50"), T0)
    assert outcome.points_reversed == 2


def earn_at_rates(
    config: ProgramConfig, state: MemberState, at: datetime, amount: str
) -> tuple[MemberState, OrderRecord]:
    """An order at whatever rates the config has, its record as the engine keeps it."""
    n = next(_numbers)
    event = BusinessEvent(f"e-{n}", "order_completed", at, {"order_id": f"o-{n}", "settled_amount": Decimal(amount)})
    outcome = apply_event(config, state, event)
    own = next(a for a in outcome.awards if a.rule == "order_completed")
    assert outcome.order_rates is not None
    rule = config.rule_for("order_completed")
    pending = rule.pending_days if isinstance(rule, OrderRule) else 0
    record = OrderRecord(
        order_id=f"o-{n}",
        event_id=event.event_id,
        amount=Decimal(amount),
        points=own.points,
        growth=own.growth,
        lot_expires_at=lot_expiry(config, at),
        lot_available_at=at + timedelta(days=pending) if pending else None,
        points_rate=outcome.order_rates[0],
        growth_rate=outcome.order_rates[1],
    )
    return check(outcome.state), record


@pytest.mark.parametrize("share", ["100", "40"])
def test_a_refund_and_a_reversal_end_the_same_in_either_order(make_config: ConfigFactory, share: str) -> None:
    # Given an order's 100 points all spent (policy clamp)
    config = policy(make_config, "clamp")
    state, record = earn(config, new_member(), T0, "100")
    spend = spend_points(state, 100, T0 + timedelta(days=1))
    spent = replace(spend.state, ledger_seq=2)  # the order is entry 1, the redemption entry 2
    later = T0 + timedelta(days=2)

    # When the order is refunded, then the redemption reversed
    refund = apply_refund(config, spent, record, Decimal(share), later)
    assert refund.forgiven == int(share)
    refunded = replace(refund.state, ledger_seq=3)
    first = reverse_redemption(config, refunded, spend.drawn, later, redeemed_seq=2)
    # Or the other way round
    back = reverse_redemption(config, spent, spend.drawn, later, redeemed_seq=2)
    second = apply_refund(config, replace(back.state, ledger_seq=3), record, Decimal(share), later)

    # Then both end with the same points, and the reversal paid the refund what it forgave
    assert sum(lot.points for lot in first.to_refunds) == int(share)
    assert (first.state.points_balance, first.state.lots, first.state.forgiven) == (
        second.state.points_balance,
        second.state.lots,
        second.state.forgiven,
    )
    assert check(first.state).points_balance == 100 - int(share)
