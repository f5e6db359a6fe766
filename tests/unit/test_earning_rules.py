"""Earning rules of the default program: orders, monthly bonus, logins, reviews, tier upgrades.

All through ``shared.rules.apply_event``; business time is the event's ``occurred_at`` and
calendar rules use the program's time zone (Asia/Shanghai, UTC+8, no DST).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

import pytest

from shared.program import ProgramConfig
from shared.rules import (
    BusinessEvent,
    EarnOutcome,
    MemberState,
    MonthActivity,
    PointsLot,
    apply_event,
    floor_int,
    upgrade_tier,
)

# Year-end expiry of the default program for points earned (Shanghai time) in 2026:
# end of 2027 local = 2028-01-01 00:00 +08:00.
END_OF_2027_SHANGHAI = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def member(**fields: Any) -> MemberState:
    return MemberState(program_id="default", member_id="m-1", **fields)


_counter = iter(range(1, 1_000_000))


def order(amount: str, at: str, member_attributes: dict[str, str] | None = None) -> BusinessEvent:
    n = next(_counter)
    return BusinessEvent(
        event_id=f"evt-{n}",
        type="order_completed",
        occurred_at=utc(at),
        attributes={"order_id": f"o-{n}", "settled_amount": Decimal(amount)},
        member_attributes=member_attributes or {},
    )


def login(at: str) -> BusinessEvent:
    return BusinessEvent(event_id=f"login-{next(_counter)}", type="login", occurred_at=utc(at))


def review(price: str, at: str = "2026-03-10T04:00:00Z") -> BusinessEvent:
    return BusinessEvent(
        event_id=f"rev-{next(_counter)}",
        type="review_approved",
        occurred_at=utc(at),
        attributes={"item_id": "sku-1", "item_price": Decimal(price)},
    )


def photo_review(price: str, rank: int, at: str = "2026-03-10T04:00:00Z") -> BusinessEvent:
    return BusinessEvent(
        event_id=f"photo-{next(_counter)}",
        type="photo_review_approved",
        occurred_at=utc(at),
        attributes={"item_id": "sku-1", "item_price": Decimal(price), "rank": rank},
    )


def apply_all(config: ProgramConfig, state: MemberState, events: list[BusinessEvent]) -> list[EarnOutcome]:
    outcomes = []
    for event in events:
        outcome = apply_event(config, state, event)
        outcomes.append(outcome)
        state = outcome.state
    return outcomes


def rules_of(outcome: EarnOutcome) -> list[str]:
    return [award.rule for award in outcome.awards]


# --- floor_int --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("199.90", 199), ("199.99", 199), ("0.99", 0), ("2", 2), ("298.5", 298), ("-0.5", -1), ("-2", -2)],
)
def test_floor_int_always_rounds_down(value: str, expected: int) -> None:
    # Given a decimal / When floored / Then the result is the integer at or below it
    assert floor_int(Decimal(value)) == expected


# --- order_completed ------------------------------------------------------------------


def test_order_of_199_90_earns_199_points_199_growth_and_bronze(default_config: ProgramConfig) -> None:
    # Given a new member of the default program
    state = member()

    # When an order settled at 199.90 CNY completes
    outcome = apply_event(default_config, state, order("199.90", "2026-03-10T04:00:00Z"))

    # Then 199 points, 199 growth, one lot expiring at the end of next year, and Bronze
    assert outcome.points == 199
    assert outcome.growth == 199
    assert outcome.lot == PointsLot(END_OF_2027_SHANGHAI, 199)
    assert outcome.state.points_balance == 199
    assert outcome.state.growth == 199
    assert outcome.state.lots == (PointsLot(END_OF_2027_SHANGHAI, 199),)
    assert outcome.state.tier == "bronze"
    assert outcome.state.tier_valid_until is None  # Bronze has no validity period
    assert outcome.tier_change is not None
    assert (outcome.tier_change.old, outcome.tier_change.new) == ("registered", "bronze")


def test_order_below_one_unit_earns_nothing_and_creates_no_lot(default_config: ProgramConfig) -> None:
    # Given a new member
    state = member()

    # When an order of 0.99 CNY completes
    outcome = apply_event(default_config, state, order("0.99", "2026-03-10T04:00:00Z"))

    # Then no points, no growth, no lot; the member stays Registered
    assert (outcome.points, outcome.growth) == (0, 0)
    assert outcome.lot is None
    assert outcome.state.lots == ()
    assert outcome.state.points_balance == 0
    assert outcome.state.tier == "registered"
    assert outcome.tier_change is None
    # ...but the order still counts towards the monthly bonus
    assert outcome.state.months == {"2026-03": MonthActivity(orders=1, bonus_awarded=False)}


def test_kol_member_attribute_accelerates_growth_but_not_points(default_config: ProgramConfig) -> None:
    # Given a member already known as a KOL account (coefficient 1.5 in the default program)
    state = member(attributes={"account_type": "kol"})

    # When a 199.90 CNY order completes
    outcome = apply_event(default_config, state, order("199.90", "2026-03-10T04:00:00Z"))

    # Then growth = floor(199.90 x 1.5) = floor(299.85) = 299, points stay floor(199.90) = 199
    assert outcome.growth == 299
    assert outcome.points == 199


def test_growth_coefficient_applies_to_the_exact_amount_not_the_floored_one(default_config: ProgramConfig) -> None:
    # Given a KOL member
    state = member(attributes={"account_type": "kol"})

    # When an order of 1.99 completes: 1.99 x 1.5 = 2.985 (floor(1.99) x 1.5 would be 1.5)
    outcome = apply_event(default_config, state, order("1.99", "2026-03-10T04:00:00Z"))

    # Then growth is floor(2.985) = 2, points floor(1.99) = 1
    assert (outcome.points, outcome.growth) == (1, 2)


def test_member_attributes_sent_with_the_event_apply_before_the_rules(default_config: ProgramConfig) -> None:
    # Given a new member with no attributes
    state = member()

    # When the order event itself says the member is a KOL
    outcome = apply_event(
        default_config, state, order("199.90", "2026-03-10T04:00:00Z", member_attributes={"account_type": "kol"})
    )

    # Then this very order already gets the KOL coefficient, and the attribute is kept on the member
    assert outcome.growth == 299
    assert outcome.points == 199
    assert outcome.state.attributes == {"account_type": "kol"}


def test_event_member_attributes_override_stored_ones(default_config: ProgramConfig) -> None:
    # Given a member stored as a KOL, with another attribute
    state = member(attributes={"account_type": "kol", "region": "north"})

    # When an order reports the account is now a regular one
    outcome = apply_event(
        default_config, state, order("199.90", "2026-03-10T04:00:00Z", member_attributes={"account_type": "regular"})
    )

    # Then the coefficient no longer applies and the other attribute is kept
    assert outcome.growth == 199
    assert outcome.state.attributes == {"account_type": "regular", "region": "north"}


def test_tier_points_multiplier_floors_the_product_explicitly(make_config: Any) -> None:
    # Given a program where Bronze members earn 1.5 points per unit, and a Bronze member
    def bronze_earns_1_5(raw: dict[str, Any]) -> None:
        raw["tiers"][1]["points_multiplier"] = "1.5"

    config = make_config(edit=bronze_earns_1_5)
    state = member(growth=100, tier="bronze", tier_since=utc("2026-01-01T00:00:00Z"))

    # When a 199.90 order completes
    outcome = apply_event(config, state, order("199.90", "2026-03-10T04:00:00Z"))

    # Then points = floor(floor(199.90) x 1.5) = floor(298.5) = 298 (not floor(299.85) = 299)
    assert outcome.points == 298
    assert outcome.lot == PointsLot(END_OF_2027_SHANGHAI, 298)
    # ...and growth is not multiplied by the tier
    assert outcome.growth == 199


def test_tier_points_multiplier_uses_the_tier_before_the_order(make_config: Any) -> None:
    # Given Bronze multiplies points by 2, and a brand-new (Registered) member
    def bronze_doubles(raw: dict[str, Any]) -> None:
        raw["tiers"][1]["points_multiplier"] = "2"

    config = make_config(edit=bronze_doubles)

    # When their first order makes them Bronze
    outcome = apply_event(config, member(), order("10.00", "2026-03-10T04:00:00Z"))

    # Then that order is still earned at the Registered rate
    assert outcome.state.tier == "bronze"
    assert outcome.points == 10


def test_points_per_unit_rate_is_floored(make_config: Any) -> None:
    # Given a program paying 0.5 points per CNY
    def half_point(raw: dict[str, Any]) -> None:
        raw["earning_rules"][0]["points_per_unit"] = "0.5"

    config = make_config(edit=half_point)

    # When a 3.99 order completes: floor(3.99) x 0.5 = 1.5
    outcome = apply_event(config, member(), order("3.99", "2026-03-10T04:00:00Z"))

    # Then 1 point
    assert outcome.points == 1


# --- tiers ----------------------------------------------------------------------------


def test_growth_crossing_2000_upgrades_to_silver_for_one_year(default_config: ProgramConfig) -> None:
    # Given a Bronze member with 1900 growth
    state = member(growth=1900, tier="bronze", tier_since=utc("2025-06-01T00:00:00Z"))

    # When an order worth 150 growth completes on 2026-03-10 12:34:56 UTC
    at = "2026-03-10T12:34:56Z"
    outcome = apply_event(default_config, state, order("150.00", at))

    # Then the member is Silver at once, since the order, valid 12 months (same local wall time)
    assert outcome.state.growth == 2050
    assert outcome.state.tier == "silver"
    assert outcome.state.tier_since == utc(at)
    assert outcome.state.tier_valid_until == utc("2027-03-10T12:34:56Z")
    assert outcome.tier_change is not None
    assert (outcome.tier_change.old, outcome.tier_change.new, outcome.tier_change.reason) == (
        "bronze",
        "silver",
        "upgrade",
    )


def test_silver_validity_is_computed_in_the_program_time_zone(default_config: ProgramConfig) -> None:
    # Given a Bronze member one order away from Silver
    state = member(growth=1999, tier="bronze")

    # When the order completes at 2028-02-28T16:30Z, which is 2028-02-29 00:30 in Shanghai (leap day)
    outcome = apply_event(default_config, state, order("1.00", "2028-02-28T16:30:00Z"))

    # Then Silver is valid until 2029-02-28 00:30 Shanghai (Feb 29 + 12 months clamps to Feb 28),
    # i.e. 2029-02-27T16:30Z; a UTC computation would give 2029-02-28T16:30Z
    assert outcome.state.tier == "silver"
    assert outcome.state.tier_valid_until == utc("2029-02-27T16:30:00Z")


def test_growth_exactly_at_threshold_reaches_the_tier(default_config: ProgramConfig) -> None:
    # Given a Bronze member with 1999 growth / When 1 growth is earned / Then Silver (>= 2000)
    state = member(growth=1999, tier="bronze")
    assert apply_event(default_config, state, order("1.00", "2026-03-10T04:00:00Z")).state.tier == "silver"
    # ...while 1998 + 1 stays Bronze
    state = member(growth=1998, tier="bronze")
    assert apply_event(default_config, state, order("1.00", "2026-03-10T04:00:00Z")).state.tier == "bronze"


def test_order_jumping_several_tiers_lands_on_the_highest_reached(default_config: ProgramConfig) -> None:
    # Given a new member / When one order worth 10000 growth completes
    outcome = apply_event(default_config, member(), order("10000.00", "2026-03-10T04:00:00Z"))

    # Then Gold directly
    assert outcome.state.tier == "gold"
    assert outcome.tier_change is not None
    assert (outcome.tier_change.old, outcome.tier_change.new) == ("registered", "gold")


def test_gold_member_below_gold_threshold_is_not_downgraded_by_earning(default_config: ProgramConfig) -> None:
    # Given a Gold member whose growth fell below Gold's 10000 (e.g. after an anniversary deduction)
    since = utc("2025-09-01T00:00:00Z")
    valid_until = utc("2026-09-01T00:00:00Z")
    state = member(growth=4000, tier="gold", tier_since=since, tier_valid_until=valid_until)

    # When they earn more growth that only reaches Silver
    outcome = apply_event(default_config, state, order("100.00", "2026-03-10T04:00:00Z"))

    # Then they stay Gold with the same attainment and validity dates, and no tier change
    assert outcome.state.growth == 4100
    assert outcome.state.tier == "gold"
    assert outcome.state.tier_since == since
    assert outcome.state.tier_valid_until == valid_until
    assert outcome.tier_change is None


def test_silver_member_reaching_silver_again_keeps_its_validity(default_config: ProgramConfig) -> None:
    # Given a Silver member / When they earn growth that stays within Silver
    since = utc("2026-01-01T00:00:00Z")
    until = utc("2027-01-01T00:00:00Z")
    state = member(growth=2500, tier="silver", tier_since=since, tier_valid_until=until)
    outcome = apply_event(default_config, state, order("100.00", "2026-03-10T04:00:00Z"))

    # Then the validity is not restarted
    assert (outcome.state.tier, outcome.state.tier_since, outcome.state.tier_valid_until) == ("silver", since, until)
    assert outcome.tier_change is None


def test_upgrade_tier_new_member_with_zero_growth_is_registered_without_change(default_config: ProgramConfig) -> None:
    # Given a member not written yet / When evaluated with 0 growth
    tier, since, valid_until, change = upgrade_tier(default_config, member(), 0, utc("2026-03-10T04:00:00Z"))

    # Then the entry tier, without validity and without a "change"
    assert tier == "registered"
    assert valid_until is None
    assert change is None
    assert since == utc("2026-03-10T04:00:00Z")


# --- monthly bonus ----------------------------------------------------------------------


def test_third_order_of_a_local_month_earns_the_monthly_bonus_once(default_config: ProgramConfig) -> None:
    # Given a member / When four orders of 10 CNY complete in March 2026 (Shanghai)
    events = [
        order("10.00", "2026-03-01T00:00:00Z"),
        order("10.00", "2026-03-05T00:00:00Z"),
        order("10.00", "2026-03-10T00:00:00Z"),
        order("10.00", "2026-03-20T00:00:00Z"),
    ]
    first, second, third, fourth = apply_all(default_config, member(), events)

    # Then only the third carries the bonus (growth 50, points 0 in the default program)
    assert rules_of(first) == ["order_completed"]
    assert rules_of(second) == ["order_completed"]
    assert rules_of(third) == ["order_completed", "monthly_bonus"]
    bonus = third.awards[1]
    assert (bonus.points, bonus.growth) == (0, 50)
    assert (third.points, third.growth) == (10, 60)
    # ...and the fourth gets nothing more
    assert rules_of(fourth) == ["order_completed"]
    assert (fourth.points, fourth.growth) == (10, 10)
    assert fourth.state.months == {"2026-03": MonthActivity(orders=4, bonus_awarded=True)}
    assert fourth.state.growth == 40 + 50


def test_monthly_bonus_points_join_the_order_lot(make_config: Any) -> None:
    # Given a program whose monthly bonus also pays 100 points
    config = make_config(monthly_bonus={"min_orders": 3, "points": 100, "growth": 50})

    # When the third order of the month completes
    outcomes = apply_all(
        config,
        member(),
        [order("10.00", f"2026-03-0{day}T04:00:00Z") for day in (1, 2, 3)],
    )

    # Then the bonus points are in that event's lot and balance
    third = outcomes[-1]
    assert third.points == 110
    assert third.lot == PointsLot(END_OF_2027_SHANGHAI, 110)
    assert third.state.points_balance == 130
    assert third.state.lots == (PointsLot(END_OF_2027_SHANGHAI, 130),)


def test_orders_count_in_their_program_local_month(default_config: ProgramConfig) -> None:
    # Given three orders that are all in January in UTC, but the third is Feb 1 in Shanghai
    events = [
        order("10.00", "2026-01-05T04:00:00Z"),  # Jan 5 local
        order("10.00", "2026-01-31T15:59:59Z"),  # Jan 31 23:59:59 local
        order("10.00", "2026-01-31T16:30:00Z"),  # Feb 1 00:30 local
    ]

    # When they are applied
    outcomes = apply_all(default_config, member(), events)

    # Then no bonus: January has 2 orders, February 1
    assert all("monthly_bonus" not in rules_of(o) for o in outcomes)
    assert outcomes[-1].state.months == {
        "2026-01": MonthActivity(orders=2, bonus_awarded=False),
        "2026-02": MonthActivity(orders=1, bonus_awarded=False),
    }


def test_order_after_local_month_end_counts_in_the_next_month(default_config: ProgramConfig) -> None:
    # Given a member with two February (Shanghai) orders, the first at 2026-01-31T16:30Z (Feb 1 local)
    state = apply_all(
        default_config,
        member(),
        [order("10.00", "2026-01-31T16:30:00Z"), order("10.00", "2026-02-15T04:00:00Z")],
    )[-1].state

    # When an order completes at 2026-02-28T16:30Z, which is already March 1 in Shanghai
    march = apply_event(default_config, state, order("10.00", "2026-02-28T16:30:00Z"))

    # Then it does not complete February's three orders
    assert "monthly_bonus" not in rules_of(march)
    assert march.state.months["2026-02"] == MonthActivity(orders=2, bonus_awarded=False)
    assert march.state.months["2026-03"] == MonthActivity(orders=1, bonus_awarded=False)

    # ...while a third order inside February local (Feb 28 23:00 local) does
    february = apply_event(default_config, march.state, order("10.00", "2026-02-28T15:00:00Z"))
    assert rules_of(february) == ["order_completed", "monthly_bonus"]
    assert february.state.months["2026-02"] == MonthActivity(orders=3, bonus_awarded=True)


def test_program_without_monthly_bonus_never_awards_one(make_config: Any) -> None:
    # Given a program with no monthly bonus / When five orders complete in one month
    config = make_config(monthly_bonus=None)
    outcomes = apply_all(config, member(), [order("10.00", f"2026-03-0{d}T04:00:00Z") for d in range(1, 6)])

    # Then no bonus award, but orders are still counted
    assert all(rules_of(o) == ["order_completed"] for o in outcomes)
    assert outcomes[-1].state.months["2026-03"].orders == 5


# --- login --------------------------------------------------------------------------------


def test_first_login_of_a_local_day_earns_5_growth_and_the_second_nothing(default_config: ProgramConfig) -> None:
    # Given a member / When they log in twice on 2026-11-22 (Shanghai)
    first, second = apply_all(
        default_config,
        member(),
        [login("2026-11-22T01:00:00Z"), login("2026-11-22T15:59:00Z")],  # 09:00 and 23:59 local
    )

    # Then the first earns 5 growth, the second 0 with a reason naming the cap
    assert (first.points, first.growth) == (0, 5)
    assert first.lot is None
    assert (second.points, second.growth) == (0, 0)
    assert len(second.awards) == 1
    assert second.awards[0].rule == "login"
    assert "daily cap" in second.awards[0].reason
    assert "2026-11-22" in second.awards[0].reason
    assert second.state.growth == 5
    assert second.state.login_days == {"2026-11-22": 2}


def test_login_after_local_midnight_is_a_new_day(default_config: ProgramConfig) -> None:
    # Given a member who logged in on 2026-11-22 local
    state = apply_event(default_config, member(), login("2026-11-22T01:00:00Z")).state

    # When they log in at 2026-11-22T16:30Z, which is 2026-11-23 00:30 in Shanghai
    outcome = apply_event(default_config, state, login("2026-11-22T16:30:00Z"))

    # Then it is the first login of a new local day: +5 growth
    assert outcome.growth == 5
    assert outcome.state.growth == 10
    assert outcome.state.login_days == {"2026-11-22": 1, "2026-11-23": 1}


def test_login_cap_of_two_per_local_day_allows_two(make_config: Any) -> None:
    # Given a program allowing two rewarded logins per local day
    def two_per_day(raw: dict[str, Any]) -> None:
        raw["earning_rules"][1]["per_local_day"] = 2

    config = make_config(edit=two_per_day)

    # When a member logs in three times the same local day
    outcomes = apply_all(
        config,
        member(),
        [login("2026-11-22T01:00:00Z"), login("2026-11-22T02:00:00Z"), login("2026-11-22T03:00:00Z")],
    )

    # Then the first two earn 5 growth each and the third nothing
    assert [o.growth for o in outcomes] == [5, 5, 0]
    assert "daily cap of 2" in outcomes[2].awards[0].reason


def test_first_login_makes_a_new_member_bronze(default_config: ProgramConfig) -> None:
    # Given a new member / When they log in / Then 5 growth reaches Bronze (min 1)
    outcome = apply_event(default_config, member(), login("2026-11-22T01:00:00Z"))
    assert outcome.state.tier == "bronze"


# --- reviews --------------------------------------------------------------------------------


@pytest.mark.parametrize(("price", "growth"), [("20", 20), ("20.00", 20), ("999.99", 20), ("19.99", 0), ("0", 0)])
def test_review_approved_earns_20_growth_from_an_item_price_of_20(
    default_config: ProgramConfig, price: str, growth: int
) -> None:
    # Given a member / When a review of an item priced `price` is approved
    outcome = apply_event(default_config, member(), review(price))

    # Then 20 growth at >= 20 CNY, nothing below (with a reason)
    assert outcome.growth == growth
    assert outcome.points == 0
    assert outcome.lot is None
    if growth == 0:
        assert "below" in outcome.awards[0].reason


@pytest.mark.parametrize(("rank", "growth"), [(1, 20), (10, 20), (11, 0), (500, 0)])
def test_photo_review_earns_only_for_the_first_10_photo_reviews(
    default_config: ProgramConfig, rank: int, growth: int
) -> None:
    # Given a member / When their photo review ranked `rank` for a 20 CNY item is approved
    outcome = apply_event(default_config, member(), photo_review("20.00", rank))

    # Then ranks 1-10 earn 20 growth, later ranks nothing (with a reason)
    assert outcome.growth == growth
    assert outcome.points == 0
    if growth == 0:
        assert "first 10" in outcome.awards[0].reason


def test_photo_review_of_a_cheap_item_earns_nothing_even_at_rank_1(default_config: ProgramConfig) -> None:
    # Given a member / When the first photo review of a 19.99 item is approved / Then nothing
    outcome = apply_event(default_config, member(), photo_review("19.99", 1))
    assert outcome.growth == 0
    assert "below" in outcome.awards[0].reason


def test_event_type_without_a_rule_earns_nothing_with_a_reason(make_config: Any) -> None:
    # Given a program without a review rule
    def no_review_rule(raw: dict[str, Any]) -> None:
        raw["earning_rules"] = [r for r in raw["earning_rules"] if r["event_type"] != "review_approved"]

    config = make_config(edit=no_review_rule)

    # When a review is approved
    outcome = apply_event(config, member(), review("50.00"))

    # Then nothing is earned and the award says why
    assert (outcome.points, outcome.growth) == (0, 0)
    assert outcome.awards[0].reason == "no earning rule for this event type"


def test_apply_event_does_not_mutate_the_input_state(default_config: ProgramConfig) -> None:
    # Given a member with login and month history
    state = member(login_days={"2026-11-21": 1}, months={"2026-11": MonthActivity(orders=1)})
    snapshot = (dict(state.login_days), dict(state.months), state.lots, state.growth)

    # When a login and an order are applied
    apply_event(default_config, state, login("2026-11-22T01:00:00Z"))
    apply_event(default_config, state, order("10.00", "2026-11-22T01:00:00Z"))

    # Then the original state is untouched
    assert (dict(state.login_days), dict(state.months), state.lots, state.growth) == snapshot


def test_occurred_at_with_an_offset_is_read_in_program_time(default_config: ProgramConfig) -> None:
    # Given the same instant written with a +08:00 offset / When the order completes
    event = BusinessEvent(
        event_id="e-offset",
        type="order_completed",
        occurred_at=datetime.fromisoformat("2026-01-01T00:30:00+08:00"),  # = 2025-12-31T16:30Z
        attributes={"order_id": "o", "settled_amount": Decimal("5")},
    )
    outcome = apply_event(default_config, member(), event)

    # Then it counts in January 2026 local and expires at the end of 2027 local
    assert outcome.state.months == {"2026-01": MonthActivity(orders=1)}
    assert outcome.lot == PointsLot(END_OF_2027_SHANGHAI, 5)


def test_growth_floor_is_exact_for_the_largest_amounts_the_api_accepts(make_config: Any) -> None:
    # Given a valid config with 6-decimal rates (growth_per_unit 1.000007, KOL coefficient 1.234567)
    def fine_grained_rates(raw: dict[str, Any]) -> None:
        raw["earning_rules"][0]["growth_per_unit"] = "1.000007"
        raw["earning_rules"][0]["growth_coefficients"][0]["coefficient"] = "1.234567"

    config = make_config(edit=fine_grained_rates)
    # ...and an amount the API accepts (12 integer digits, 4 decimals)
    amount = "830059037400.5871"
    # The exact product is 1024770668970.9999999999999999...: its floor is 1024770668970
    # (computed here with enough precision; 100 digits is far beyond the 16 + 18 + 18 of the inputs).
    with localcontext() as exact:
        exact.prec = 100
        expected = floor_int(Decimal(amount) * Decimal("1.000007") * Decimal("1.234567"))
    assert expected == 1024770668970

    # When a KOL member's order of that amount completes
    outcome = apply_event(config, member(attributes={"account_type": "kol"}), order(amount, "2026-03-10T04:00:00Z"))

    # Then growth is the exact floor: "every rounding is explicit (floor)", never a rounding up
    # by Decimal's default 28-digit context before the floor
    assert outcome.growth == expected
