"""Property-based: random earn/spend sequences keep the points invariants.

For random orders (Decimal-string amounts with up to 2 decimals, business times over several
years, in any order) and random spends (random sizes and times), under every expiry policy:

- points_balance == sum of lot points, after every step
- points_balance == points earned - points successfully spent
- no lot is negative (or empty), lots stay sorted soonest-expiring first
- available points are never negative
- a failed spend raises InsufficientPoints and changes nothing
- a successful spend draws exactly the amount, from the soonest-expiring live lots
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InsufficientPoints
from shared.program import ProgramConfig
from shared.rules import (
    BusinessEvent,
    MemberState,
    PointsLot,
    apply_event,
    available_points,
    floor_int,
    is_live,
    sort_lots,
    spend_points,
)

_RAW = json.loads((Path(__file__).resolve().parents[2] / "config" / "programs" / "default.json").read_text())


def _config(**overrides: object) -> ProgramConfig:
    raw = copy.deepcopy(_RAW)
    raw.update(overrides)
    return ProgramConfig.model_validate(raw)


CONFIGS = [
    _config(),  # year_end, Asia/Shanghai
    _config(expiry={"policy": "rolling_days", "days": 90}),
    _config(expiry={"policy": "month_end", "months_after": 2}),
    _config(expiry={"policy": "never"}),
    _config(time_zone="America/New_York", currency="USD", expiry={"policy": "month_end", "months_after": 0}),
]

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2028, 12, 31, tzinfo=UTC)
times = st.datetimes(min_value=START.replace(tzinfo=None), max_value=END.replace(tzinfo=None), timezones=st.just(UTC))
# Amounts as the API hands them over: decimal strings with up to 2 decimals.
amounts = st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False, allow_infinity=False).map(str)


@dataclass(frozen=True)
class Earn:
    amount: str
    at: datetime


@dataclass(frozen=True)
class Spend:
    points: int
    at: datetime


@dataclass(frozen=True)
class SpendShare:
    """Spend ``percent`` % of what is available at ``at`` (at least 1 point): most of these succeed."""

    percent: int
    at: datetime


operations = st.lists(
    st.one_of(
        st.builds(Earn, amount=amounts, at=times),
        st.builds(Spend, points=st.integers(min_value=1, max_value=8000), at=times),
        st.builds(SpendShare, percent=st.integers(min_value=1, max_value=100), at=times),
    ),
    max_size=30,
)


def _sort_key(lot: PointsLot) -> tuple[bool, datetime]:
    return (lot.expires_at is None, lot.expires_at or START)


def _check_state(state: MemberState, earned: int, spent: int) -> None:
    lot_total = sum(lot.points for lot in state.lots)
    assert state.points_balance == lot_total
    assert state.points_balance == earned - spent
    assert all(lot.points > 0 for lot in state.lots)
    assert state.lots == sort_lots(state.lots)
    # lots merge by expiry: one lot per expiry instant
    assert len({lot.expires_at for lot in state.lots}) == len(state.lots)
    for probe in (START, datetime(2026, 6, 1, tzinfo=UTC), END):
        assert available_points(state.lots, probe) >= 0


@settings(max_examples=200, deadline=None, database=None)
@given(config=st.sampled_from(CONFIGS), ops=operations)
def test_random_earns_and_spends_keep_the_points_invariants(
    config: ProgramConfig, ops: list[Earn | Spend | SpendShare]
) -> None:
    # Given a new member
    state = MemberState(program_id="default", member_id="m-prop")
    earned = spent = 0

    # When the operations are applied in order
    for number, op in enumerate(ops):
        if isinstance(op, Earn):
            event = BusinessEvent(
                event_id=f"e-{number}",
                type="order_completed",
                occurred_at=op.at,
                attributes={"order_id": f"o-{number}", "settled_amount": Decimal(op.amount)},
            )
            multiplier = config.tier(state.tier or config.tiers[0].code).points_multiplier
            outcome = apply_event(config, state, event)
            # points = floor(floor(amount) x the multiplier of the tier before the order)
            # (the monthly bonus pays growth only)
            assert outcome.points == floor_int(floor_int(Decimal(op.amount)) * multiplier)
            assert (outcome.lot is None) == (outcome.points == 0)
            earned += outcome.points
            state = outcome.state
        else:
            available = available_points(state.lots, op.at)
            points = op.points if isinstance(op, Spend) else max(1, available * op.percent // 100)
            if points > available:
                # Then a spend above what is available is refused and changes nothing
                before = copy.deepcopy(state)
                try:
                    spend_points(state, points, op.at)
                except InsufficientPoints as error:
                    assert error.details[0]["available"] == available
                else:
                    raise AssertionError(f"spend of {points} with {available} available was accepted")
                assert state == before
            else:
                result = spend_points(state, points, op.at)
                # Then it draws exactly the amount, only from live lots, soonest-expiring first
                assert sum(lot.points for lot in result.drawn) == points
                assert all(is_live(lot, op.at) for lot in result.drawn)
                assert list(result.drawn) == sorted(result.drawn, key=_sort_key)
                if result.drawn:
                    last_drawn = _sort_key(result.drawn[-1])
                    left_live = [lot for lot in result.state.lots if is_live(lot, op.at)]
                    assert all(_sort_key(lot) >= last_drawn for lot in left_live)
                assert available_points(result.state.lots, op.at) == available - points
                assert result.state.points_balance == state.points_balance - points
                spent += points
                state = result.state
        # Then, after every step, the invariants hold
        _check_state(state, earned, spent)
