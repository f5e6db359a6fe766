"""Tier anniversaries (``shared.tiers``): deductions, renewals, downgrades, activity, outlook.

Default program: Silver 2000 (deduct 1000), Gold 10000 (deduct 3000), Diamond 30000
(deduct 6000), all valid 12 months; orders are the qualifying activity; an inactive member
falls to Bronze. Asia/Shanghai is UTC+8 all year.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from shared.program import ProgramConfig
from shared.rules import BusinessEvent, MemberState, apply_event
from shared.tiers import evaluate_tier, next_anniversary, outlook


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


_numbers = iter(range(1, 1_000_000))


def order(at: str, amount: str) -> BusinessEvent:
    n = next(_numbers)
    return BusinessEvent(
        f"e-{n}", "order_completed", utc(at), {"order_id": f"o-{n}", "settled_amount": Decimal(amount)}
    )


def login(at: str) -> BusinessEvent:
    return BusinessEvent(f"l-{next(_numbers)}", "login", utc(at), {})


def earn(config: ProgramConfig, state: MemberState, *events: BusinessEvent) -> MemberState:
    for event in events:
        state = apply_event(config, state, event).state
    return state


def new_member() -> MemberState:
    return MemberState(program_id="default", member_id="m-1")


def test_nothing_is_due_before_the_anniversary(default_config: ProgramConfig) -> None:
    state = earn(default_config, new_member(), order("2026-03-05T02:00:00Z", "2500"))
    assert state.tier == "silver"
    assert state.tier_valid_until == utc("2027-03-05T02:00:00Z")
    assert evaluate_tier(default_config, state, utc("2027-03-05T01:59:59Z")) is None


def test_an_active_member_keeps_the_tier_after_the_deduction(default_config: ProgramConfig) -> None:
    # Given a Silver member (2500) with an order during the year (+1000 = 3500)
    state = earn(
        default_config,
        new_member(),
        order("2026-03-05T02:00:00Z", "2500"),
        order("2026-09-01T02:00:00Z", "1000"),
    )
    # When the anniversary is evaluated
    evaluation = evaluate_tier(default_config, state, utc("2027-03-05T02:00:00Z"))
    assert evaluation is not None
    # Then 1000 is deducted, 2500 keeps Silver, valid one more year from the first attainment
    assert evaluation.deducted == 1000
    assert evaluation.state.growth == 2500
    assert evaluation.state.tier == "silver"
    assert evaluation.state.tier_since == utc("2026-03-05T02:00:00Z")
    assert evaluation.state.tier_valid_until == utc("2028-03-05T02:00:00Z")
    assert evaluation.change is None
    assert [s.reason for s in evaluation.steps] == ["renewed"]


def test_a_member_exactly_at_the_threshold_after_the_deduction_keeps_the_tier(default_config: ProgramConfig) -> None:
    state = earn(
        default_config, new_member(), order("2026-03-05T02:00:00Z", "2000"), order("2026-04-05T02:00:00Z", "1000")
    )
    assert state.growth == 3000
    evaluation = evaluate_tier(default_config, state, utc("2027-03-05T02:00:00Z"))
    assert evaluation is not None
    assert evaluation.state.growth == 2000  # exactly Silver's 2000
    assert evaluation.state.tier == "silver"


def test_one_growth_short_of_the_threshold_drops_a_tier(default_config: ProgramConfig) -> None:
    state = earn(
        default_config, new_member(), order("2026-03-05T02:00:00Z", "2000"), order("2026-04-05T02:00:00Z", "999")
    )
    evaluation = evaluate_tier(default_config, state, utc("2027-03-05T02:00:00Z"))
    assert evaluation is not None
    assert evaluation.state.growth == 1999
    assert evaluation.state.tier == "bronze"
    assert evaluation.change is not None
    assert (evaluation.change.old, evaluation.change.new, evaluation.change.reason) == ("silver", "bronze", "downgrade")
    # Bronze has no validity: nothing more to evaluate
    assert evaluation.state.tier_valid_until is None
    assert evaluation.state.tier_since == utc("2027-03-05T02:00:00Z")


def test_the_deduction_never_takes_growth_below_zero(make_config: Callable[..., ProgramConfig]) -> None:
    def big_deduction(raw: dict[str, Any]) -> None:
        raw["tiers"][2]["anniversary_deduction"] = 5000

    config = make_config(edit=big_deduction)
    state = earn(config, new_member(), order("2026-03-05T02:00:00Z", "2100"), order("2026-05-05T02:00:00Z", "1"))
    evaluation = evaluate_tier(config, state, utc("2027-03-05T02:00:00Z"))
    assert evaluation is not None
    assert evaluation.deducted == 2101  # all there was, not 5000
    assert evaluation.state.growth == 0
    assert evaluation.state.tier == "registered"  # 0 growth is below Bronze's 1


def test_an_inactive_member_drops_to_bronze_whatever_its_growth(default_config: ProgramConfig) -> None:
    # Given a Gold member with plenty of growth but nothing but logins after attaining Gold
    state = earn(default_config, new_member(), order("2026-01-10T02:00:00Z", "25000"))
    assert state.tier == "gold"
    state = earn(default_config, state, login("2026-06-01T02:00:00Z"))
    # the attaining order opens the period and is not activity in it; logins do not qualify
    assert state.tier_period_active is False
    evaluation = evaluate_tier(default_config, state, utc("2027-01-10T02:00:00Z"))
    assert evaluation is not None
    assert evaluation.state.growth == 25005 - 3000
    assert evaluation.state.tier == "bronze"
    assert evaluation.change is not None
    assert evaluation.change.reason == "inactive"


def test_a_gold_member_inactive_for_a_year_drops_to_bronze(default_config: ProgramConfig) -> None:
    # Gold attained by an order on 2026-01-10, and nothing else for a year: an idle first year
    state = earn(default_config, new_member(), order("2026-01-10T02:00:00Z", "16000"))
    assert state.tier_period_active is False  # the attaining order opens the period, it is not activity in it
    evaluation = evaluate_tier(default_config, state, utc("2027-01-10T02:00:00Z"))
    assert evaluation is not None
    assert evaluation.state.tier == "bronze"
    assert evaluation.state.growth == 16000 - 3000  # 13000 reaches Gold's threshold: inactivity decides
    assert evaluation.change is not None and evaluation.change.reason == "inactive"


def test_an_order_after_attaining_keeps_the_tier_at_the_anniversary(default_config: ProgramConfig) -> None:
    # Gold attained on 2026-01-10, one more order a second later: that one is activity in the year
    state = earn(default_config, new_member(), order("2026-01-10T02:00:00Z", "16000"))
    state = earn(default_config, state, order("2026-01-10T02:00:01Z", "1"))
    assert state.tier_period_active is True
    evaluation = evaluate_tier(default_config, state, utc("2027-01-10T02:00:00Z"))
    assert evaluation is not None
    assert evaluation.state.tier == "gold"
    assert evaluation.state.tier_period_active is False  # the next year starts idle


def test_inactive_tier_never_raises_a_member_above_its_growth(default_config: ProgramConfig) -> None:
    state = MemberState(
        program_id="default",
        member_id="m-1",
        version=3,
        growth=1500,
        tier="silver",
        tier_since=utc("2026-01-01T00:00:00Z"),
        tier_valid_until=utc("2027-01-01T00:00:00Z"),
        tier_period_start=utc("2026-01-01T00:00:00Z"),
        tier_period_active=False,
    )
    evaluation = evaluate_tier(default_config, state, utc("2027-01-01T00:00:00Z"))
    assert evaluation is not None
    assert evaluation.state.growth == 500
    assert evaluation.state.tier == "bronze"


def test_a_member_who_upgraded_mid_year_is_evaluated_on_the_new_tiers_anniversary(
    default_config: ProgramConfig,
) -> None:
    # Silver on 2026-02-01, Gold on 2026-07-15: the Silver anniversary never comes
    state = earn(default_config, new_member(), order("2026-02-01T02:00:00Z", "3000"))
    state = earn(default_config, state, order("2026-07-15T02:00:00Z", "8000"))
    assert state.tier == "gold"
    state = earn(default_config, state, order("2026-09-01T02:00:00Z", "1"))  # activity in Gold's year
    assert state.tier_valid_until == utc("2027-07-15T02:00:00Z")
    assert evaluate_tier(default_config, state, utc("2027-02-01T02:00:00Z")) is None
    # At Gold's anniversary Gold's deduction (3000) applies: 11001 - 3000 = 8001 -> Silver
    evaluation = evaluate_tier(default_config, state, utc("2027-07-15T02:00:00Z"))
    assert evaluation is not None
    assert evaluation.deducted == 3000
    assert evaluation.state.tier == "silver"
    assert evaluation.change is not None and evaluation.change.reason == "downgrade"
    assert evaluation.state.tier_since == utc("2027-07-15T02:00:00Z")
    assert evaluation.state.tier_valid_until == utc("2028-07-15T02:00:00Z")


def test_a_tier_attained_on_feb_29_is_evaluated_feb_28_in_common_years_and_feb_29_in_leap_years(
    default_config: ProgramConfig,
) -> None:
    # 2028-02-29 10:00 Shanghai
    attained = utc("2028-02-29T10:00:00+08:00")
    assert next_anniversary(attained, attained, 12, "Asia/Shanghai") == utc("2029-02-28T10:00:00+08:00")
    assert next_anniversary(attained, utc("2029-02-28T10:00:00+08:00"), 12, "Asia/Shanghai") == utc(
        "2030-02-28T10:00:00+08:00"
    )
    assert next_anniversary(attained, utc("2031-02-28T10:00:00+08:00"), 12, "Asia/Shanghai") == utc(
        "2032-02-29T10:00:00+08:00"
    )

    # And through the rules: an active Silver member attained on Feb 29 renews on Feb 28
    state = earn(default_config, new_member(), order("2028-02-29T02:00:00Z", "4000"))
    assert state.tier_valid_until == utc("2029-02-28T02:00:00Z")
    state = earn(default_config, state, order("2028-06-01T02:00:00Z", "10"))
    evaluation = evaluate_tier(default_config, state, utc("2029-02-28T02:00:00Z"))
    assert evaluation is not None
    assert evaluation.state.tier == "silver"
    assert evaluation.state.tier_valid_until == utc("2030-02-28T02:00:00Z")


def test_the_feb_29_anniversary_follows_the_local_date_not_the_utc_one(default_config: ProgramConfig) -> None:
    # 2028-02-29 01:00 Shanghai is still 2028-02-28 in UTC: the local date decides
    state = earn(default_config, new_member(), order("2028-02-28T17:00:00Z", "4000"))
    assert state.tier_since == utc("2028-02-29T01:00:00+08:00")
    assert state.tier_valid_until == utc("2029-02-28T01:00:00+08:00")


def test_an_overdue_member_is_caught_up_one_anniversary_at_a_time(default_config: ProgramConfig) -> None:
    # Diamond (43000) attained 2026-01-05 with no activity since: two anniversaries are due
    state = earn(default_config, new_member(), order("2026-01-05T02:00:00Z", "43000"))
    evaluation = evaluate_tier(default_config, state, utc("2028-01-06T00:00:00Z"))
    assert evaluation is not None
    steps = evaluation.steps
    assert [(s.tier_before, s.tier_after, s.deducted, s.reason) for s in steps] == [
        ("diamond", "bronze", 6000, "inactive"),  # the attaining order is not activity in year one
    ]
    assert evaluation.state.growth == 43000 - 6000
    change = evaluation.change
    assert change is not None and (change.old, change.new, change.reason) == ("diamond", "bronze", "inactive")


def test_orders_after_the_anniversary_count_for_the_next_period(default_config: ProgramConfig) -> None:
    state = earn(default_config, new_member(), order("2026-03-05T02:00:00Z", "2500"))
    # an order after the anniversary but before the job ran
    state = earn(default_config, state, order("2027-03-05T05:00:00Z", "1000"))
    assert state.tier == "silver"
    evaluation = evaluate_tier(default_config, state, utc("2027-03-06T00:00:00Z"))
    assert evaluation is not None
    assert evaluation.state.growth == 2500
    assert evaluation.state.tier_period_start == utc("2027-03-05T02:00:00Z")
    assert evaluation.state.tier_period_active is True


def test_logins_are_not_qualifying_activity_unless_the_program_says_so(
    make_config: Callable[..., ProgramConfig],
) -> None:
    base = make_config()
    state = earn(base, new_member(), order("2026-03-05T02:00:00Z", "2500"))
    state = MemberState(**{**state.__dict__, "tier_period_active": False})
    assert earn(base, state, login("2026-05-01T02:00:00Z")).tier_period_active is False

    with_logins = make_config(
        tier_policy={"qualifying_events": ["order_completed", "login"], "inactive_tier": "bronze"}
    )
    assert earn(with_logins, state, login("2026-05-01T02:00:00Z")).tier_period_active is True


def test_the_outlook_tells_what_to_earn_to_keep_and_to_reach_a_tier(default_config: ProgramConfig) -> None:
    state = earn(default_config, new_member(), order("2026-03-05T02:00:00Z", "2500"))
    ahead = outlook(default_config, state)
    assert ahead.next_evaluation_at == utc("2027-03-05T02:00:00Z")
    assert ahead.keep_growth_needed == 2000 + 1000 - 2500
    assert ahead.keep_activity_needed is True  # the order that attained Silver opened the period
    assert ahead.next_tier is not None and ahead.next_tier.code == "gold"
    assert ahead.next_tier_growth_needed == 10000 - 2500

    bronze = earn(default_config, new_member(), order("2026-03-05T02:00:00Z", "10"))
    ahead = outlook(default_config, bronze)
    assert ahead.next_evaluation_at is None
    assert ahead.keep_growth_needed is None
    assert ahead.next_tier_growth_needed == 1990


def test_tier_policy_and_benefits_are_validated(default_raw: dict[str, Any]) -> None:
    default_raw["tier_policy"] = {"qualifying_events": ["order_completed"], "inactive_tier": "platinum"}
    with pytest.raises(ValidationError, match="inactive_tier"):
        ProgramConfig.model_validate(default_raw)
    default_raw["tier_policy"] = {"qualifying_events": ["order_refunded"]}
    with pytest.raises(ValidationError):
        ProgramConfig.model_validate(default_raw)
    default_raw["tier_policy"] = {"qualifying_events": ["login"]}
    default_raw["tiers"][2]["benefits"] = [{"code": "Free Shipping", "name": "x"}]
    with pytest.raises(ValidationError, match="code"):
        ProgramConfig.model_validate(default_raw)


def test_the_default_program_lists_benefits_and_multipliers(default_config: ProgramConfig) -> None:
    gold = default_config.tier("gold")
    assert gold.points_multiplier == Decimal("1.2")
    assert [b.code for b in gold.benefits] == ["free_shipping_coupons", "priority_support"]
    assert gold.benefits[0].params == {"per_month": 4}
    assert default_config.inactive_tier().code == "bronze"
