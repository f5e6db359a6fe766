"""Spending points (``spend_points``), lots (``add_lot``, ``sort_lots``) and the read helpers
(``available_points``, ``upcoming_expiries``)."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest

from shared.errors import InsufficientPoints
from shared.rules import (
    MemberState,
    PointsLot,
    add_lot,
    available_points,
    sort_lots,
    spend_points,
    upcoming_expiries,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


JUN_2026 = utc("2026-06-30T16:00:00Z")
DEC_2026 = utc("2026-12-31T16:00:00Z")
DEC_2027 = utc("2027-12-31T16:00:00Z")
NOW = utc("2026-03-01T04:00:00Z")


def member_with(*lots: PointsLot) -> MemberState:
    return MemberState(
        program_id="default",
        member_id="m-1",
        version=3,
        growth=1234,
        points_balance=sum(lot.points for lot in lots),
        lots=tuple(lots),
        tier="bronze",
    )


# --- spend_points -------------------------------------------------------------------------------


def test_spend_draws_soonest_expiring_lots_first() -> None:
    # Given lots expiring Dec 2027 (50), never (30), Dec 2026 (100), Jun 2026 (20), stored unsorted
    state = member_with(PointsLot(DEC_2027, 50), PointsLot(None, 30), PointsLot(DEC_2026, 100), PointsLot(JUN_2026, 20))

    # When 130 points are spent
    outcome = spend_points(state, 130, NOW)

    # Then Jun 2026 (20) and Dec 2026 (100) are drained and 10 come from Dec 2027
    assert outcome.drawn == (PointsLot(JUN_2026, 20), PointsLot(DEC_2026, 100), PointsLot(DEC_2027, 10))
    assert outcome.state.lots == (PointsLot(DEC_2027, 40), PointsLot(None, 30))
    assert outcome.state.points_balance == 200 - 130


def test_never_expiring_points_are_spent_last() -> None:
    # Given a never-expiring lot listed first and an expiring one
    state = member_with(PointsLot(None, 100), PointsLot(DEC_2027, 40))

    # When 60 points are spent
    outcome = spend_points(state, 60, NOW)

    # Then all 40 expiring points go first, then 20 of the never-expiring ones
    assert outcome.drawn == (PointsLot(DEC_2027, 40), PointsLot(None, 20))
    assert outcome.state.lots == (PointsLot(None, 80),)


def test_expired_but_unswept_lot_is_neither_available_nor_spendable() -> None:
    # Given a lot that expired at the end of 2025 (not swept yet) and a live one
    expired = PointsLot(utc("2025-12-31T16:00:00Z"), 500)
    live = PointsLot(DEC_2026, 100)
    state = member_with(expired, live)
    assert state.points_balance == 600

    # When checked in March 2026
    # Then only the live lot is available
    assert available_points(state.lots, NOW) == 100
    assert upcoming_expiries(state.lots, NOW) == [live]

    # ...a spend of 150 is refused, naming what is available
    with pytest.raises(InsufficientPoints) as refused:
        spend_points(state, 150, NOW)
    assert refused.value.details == [{"field": "points", "requested": 150, "available": 100}]

    # ...and a spend of 100 draws only from the live lot, leaving the expired one for the sweep
    outcome = spend_points(state, 100, NOW)
    assert outcome.drawn == (live,)
    assert outcome.state.lots == (expired,)
    assert outcome.state.points_balance == 500
    assert available_points(outcome.state.lots, NOW) == 0


def test_spending_the_exact_available_balance_leaves_zero() -> None:
    # Given 3 lots / When their total is spent
    state = member_with(PointsLot(JUN_2026, 20), PointsLot(DEC_2026, 30), PointsLot(None, 50))
    outcome = spend_points(state, 100, NOW)

    # Then no lot is left, balance and availability are 0
    assert outcome.state.lots == ()
    assert outcome.state.points_balance == 0
    assert available_points(outcome.state.lots, NOW) == 0
    assert outcome.drawn == (PointsLot(JUN_2026, 20), PointsLot(DEC_2026, 30), PointsLot(None, 50))


@pytest.mark.parametrize("points", [101, 1_000_000])
def test_insufficient_points_raise_and_change_nothing(points: int) -> None:
    # Given a member with 100 available points
    state = member_with(PointsLot(DEC_2026, 60), PointsLot(DEC_2027, 40))
    before = copy.deepcopy(state)

    # When more than that is requested
    with pytest.raises(InsufficientPoints) as refused:
        spend_points(state, points, NOW)

    # Then a 409 INSUFFICIENT_POINTS error naming both numbers, and the state is unchanged
    error = refused.value
    assert (error.status, error.code) == (409, "INSUFFICIENT_POINTS")
    assert error.details == [{"field": "points", "requested": points, "available": 100}]
    assert state == before


def test_spend_from_a_member_without_lots_is_refused() -> None:
    # Given a member with no points / When 1 point is spent / Then refused with 0 available
    with pytest.raises(InsufficientPoints) as refused:
        spend_points(member_with(), 1, NOW)
    assert refused.value.details[0]["available"] == 0


@pytest.mark.parametrize("points", [1, 19, 20, 21, 75, 149, 150])
def test_drawn_amounts_sum_to_the_spend_and_balance_decreases_by_it(points: int) -> None:
    # Given three lots holding 150 points
    state = member_with(PointsLot(JUN_2026, 20), PointsLot(DEC_2026, 30), PointsLot(None, 100))

    # When `points` are spent
    outcome = spend_points(state, points, NOW)

    # Then the drawn parts sum to the spend, the balance drops by it, and lots match the balance
    assert sum(lot.points for lot in outcome.drawn) == points
    assert outcome.state.points_balance == state.points_balance - points
    assert sum(lot.points for lot in outcome.state.lots) == outcome.state.points_balance
    assert all(lot.points > 0 for lot in outcome.state.lots)
    assert all(lot.points > 0 for lot in outcome.drawn)
    # ...and nothing else about the member changes
    assert (outcome.state.growth, outcome.state.tier, outcome.state.version) == (1234, "bronze", 3)


def test_spend_at_the_expiry_instant_does_not_use_the_expiring_lot() -> None:
    # Given a lot expiring at DEC_2026 and a later one / When spending exactly at DEC_2026
    state = member_with(PointsLot(DEC_2026, 100), PointsLot(DEC_2027, 10))

    # Then only the later lot is available
    with pytest.raises(InsufficientPoints):
        spend_points(state, 11, DEC_2026)
    assert spend_points(state, 10, DEC_2026).drawn == (PointsLot(DEC_2027, 10),)


# --- add_lot / sort_lots ---------------------------------------------------------------------------


def test_add_lot_merges_a_lot_with_the_same_expiry() -> None:
    # Given lots for Dec 2026 and Dec 2027
    lots = (PointsLot(DEC_2026, 100), PointsLot(DEC_2027, 50))

    # When 25 more points expiring in Dec 2026 are added
    merged = add_lot(lots, PointsLot(DEC_2026, 25))

    # Then they join the Dec 2026 lot; order is kept; the input is untouched
    assert merged == (PointsLot(DEC_2026, 125), PointsLot(DEC_2027, 50))
    assert lots == (PointsLot(DEC_2026, 100), PointsLot(DEC_2027, 50))


def test_add_lot_merges_never_expiring_lots() -> None:
    merged = add_lot((PointsLot(DEC_2026, 1), PointsLot(None, 10)), PointsLot(None, 5))
    assert merged == (PointsLot(DEC_2026, 1), PointsLot(None, 15))


def test_add_lot_inserts_a_new_expiry_in_expiry_order() -> None:
    # Given Dec 2026, Dec 2027 and never-expiring lots
    lots = (PointsLot(DEC_2026, 1), PointsLot(DEC_2027, 2), PointsLot(None, 3))

    # When a lot expiring in June 2026 and then one expiring in 2030 are added
    lots = add_lot(lots, PointsLot(JUN_2026, 4))
    lots = add_lot(lots, PointsLot(utc("2030-01-01T00:00:00Z"), 5))

    # Then the lots stay sorted soonest first, never-expiring last
    assert lots == (
        PointsLot(JUN_2026, 4),
        PointsLot(DEC_2026, 1),
        PointsLot(DEC_2027, 2),
        PointsLot(utc("2030-01-01T00:00:00Z"), 5),
        PointsLot(None, 3),
    )


def test_add_lot_to_no_lots() -> None:
    assert add_lot((), PointsLot(DEC_2026, 9)) == (PointsLot(DEC_2026, 9),)


def test_sort_lots_puts_never_expiring_last() -> None:
    assert sort_lots([PointsLot(None, 1), PointsLot(DEC_2027, 2), PointsLot(JUN_2026, 3)]) == (
        PointsLot(JUN_2026, 3),
        PointsLot(DEC_2027, 2),
        PointsLot(None, 1),
    )


# --- upcoming_expiries ----------------------------------------------------------------------------


def test_upcoming_expiries_lists_every_live_expiring_lot_soonest_first() -> None:
    # Given an expired lot, two live expiring lots (unsorted) and a never-expiring lot
    expired = PointsLot(utc("2025-12-31T16:00:00Z"), 5)
    lots = (PointsLot(None, 1), PointsLot(DEC_2027, 2), expired, PointsLot(DEC_2026, 3))

    # When listed in March 2026
    # Then both live expiring lots, soonest first; neither the expired nor the never-expiring one
    assert upcoming_expiries(lots, NOW) == [PointsLot(DEC_2026, 3), PointsLot(DEC_2027, 2)]
    assert available_points(lots, NOW) == 6
