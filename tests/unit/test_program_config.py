"""``ProgramConfig`` validation: the one gate every program config passes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.http import _field_detail
from shared.program import LoginRule, OrderRule, PhotoReviewRule, ProgramConfig, ReviewRule, YearEndExpiry


def errors_of(raw: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as invalid:
        ProgramConfig.model_validate(raw)
    return list(invalid.value.errors())


def fields_of(raw: dict[str, Any]) -> list[str]:
    """The field names a client of ``PUT /v1/programs/{id}`` would see (Powertools adds 'body')."""
    return [_field_detail({**e, "loc": ("body", *e["loc"])})["field"] for e in errors_of(raw)]


def test_default_program_file_validates(default_raw: dict[str, Any]) -> None:
    # Given config/programs/default.json / When validated
    config = ProgramConfig.model_validate(default_raw)

    # Then it holds the JD-like default program
    assert config.time_zone == "Asia/Shanghai"
    assert config.currency == "CNY"
    assert config.points_per_currency_unit == 100
    assert [t.code for t in config.tiers] == ["registered", "bronze", "silver", "gold", "diamond"]
    assert [t.min_growth for t in config.tiers] == [0, 1, 2000, 10000, 30000]
    assert [t.anniversary_deduction for t in config.tiers[2:]] == [1000, 3000, 6000]
    assert isinstance(config.rule_for("order_completed"), OrderRule)
    assert isinstance(config.rule_for("login"), LoginRule)
    assert isinstance(config.rule_for("review_approved"), ReviewRule)
    assert isinstance(config.rule_for("photo_review_approved"), PhotoReviewRule)
    assert config.rule_for("order_refunded") is None
    assert config.expiry == YearEndExpiry(policy="year_end", years_after=1)
    assert config.monthly_bonus is not None
    assert config.monthly_bonus.min_orders == 3


def test_default_program_round_trips_through_json(default_raw: dict[str, Any]) -> None:
    # Given the validated default / When dumped to JSON and validated again / Then equal
    config = ProgramConfig.model_validate(default_raw)
    assert ProgramConfig.model_validate_json(config.model_dump_json()) == config


def test_tiers_out_of_order_are_refused(default_raw: dict[str, Any]) -> None:
    # Given Gold listed before Silver
    tiers = default_raw["tiers"]
    tiers[2], tiers[3] = tiers[3], tiers[2]

    # When validated / Then an error on `tiers` saying they must ascend
    errors = errors_of(default_raw)
    assert [e["loc"] for e in errors] == [("tiers",)]
    assert "ascending" in errors[0]["msg"]
    assert "tiers[3]" in errors[0]["msg"]
    assert fields_of(default_raw) == ["tiers"]


def test_tiers_with_equal_thresholds_are_refused(default_raw: dict[str, Any]) -> None:
    default_raw["tiers"][3]["min_growth"] = 2000
    assert [e["loc"] for e in errors_of(default_raw)] == [("tiers",)]


def test_first_tier_must_start_at_zero(default_raw: dict[str, Any]) -> None:
    default_raw["tiers"][0]["min_growth"] = 5
    errors = errors_of(default_raw)
    assert errors[0]["loc"] == ("tiers",)
    assert "min_growth 0" in errors[0]["msg"]


def test_duplicate_tier_codes_are_refused(default_raw: dict[str, Any]) -> None:
    default_raw["tiers"][2]["code"] = "bronze"
    errors = errors_of(default_raw)
    assert errors[0]["loc"] == ("tiers",)
    assert "unique" in errors[0]["msg"]


def test_negative_rate_is_refused_at_its_field(default_raw: dict[str, Any]) -> None:
    # Given points_per_unit "-1" on the order rule
    default_raw["earning_rules"][0]["points_per_unit"] = "-1"

    # When validated
    errors = errors_of(default_raw)

    # Then the error is at earning_rules.0.points_per_unit (pydantic adds the union tag to loc,
    # the API's error mapping drops it)
    assert len(errors) == 1
    assert errors[0]["type"] == "greater_than_equal"
    assert errors[0]["loc"] == ("earning_rules", 0, "order_completed", "points_per_unit")
    assert fields_of(default_raw) == ["earning_rules.0.points_per_unit"]


def test_unknown_event_type_in_a_rule_is_refused(default_raw: dict[str, Any]) -> None:
    # Given a rule for an event type the engine does not know
    default_raw["earning_rules"].append({"event_type": "birthday", "points": 0, "growth": 10})

    # When validated / Then an error naming the rule's event_type
    errors = errors_of(default_raw)
    assert errors[0]["type"] == "union_tag_invalid"
    assert errors[0]["loc"] == ("earning_rules", 4)
    assert fields_of(default_raw) == ["earning_rules.4.event_type"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "Asia", "asia/shanghai", "Asia/../Asia/Shanghai", "/etc/UTC"])
def test_unknown_time_zone_is_refused(default_raw: dict[str, Any], zone: str) -> None:
    # Given a time zone that is not an IANA zone / When validated / Then an error on time_zone
    default_raw["time_zone"] = zone
    errors = errors_of(default_raw)
    assert [e["loc"] for e in errors] == [("time_zone",)]
    assert "unknown IANA time zone" in errors[0]["msg"]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Europe/Madrid", "Asia/Kolkata"])
def test_known_time_zones_are_accepted(default_raw: dict[str, Any], zone: str) -> None:
    default_raw["time_zone"] = zone
    assert ProgramConfig.model_validate(default_raw).time_zone == zone


def test_two_rules_for_one_event_type_are_refused(default_raw: dict[str, Any]) -> None:
    # Given a second login rule / When validated / Then an error on earning_rules naming the type
    default_raw["earning_rules"].append({"event_type": "login", "points": 0, "growth": 10})
    errors = errors_of(default_raw)
    assert [e["loc"] for e in errors] == [("earning_rules",)]
    assert "two rules for event type 'login'" in errors[0]["msg"]


@pytest.mark.parametrize(
    ("path", "expected_loc"),
    [
        ((), ("bonus_points",)),
        (("tiers", 1), ("tiers", 1, "bonus_points")),
        (("earning_rules", 1), ("earning_rules", 1, "login", "bonus_points")),
        (("expiry",), ("expiry", "year_end", "bonus_points")),
        (("monthly_bonus",), ("monthly_bonus", "bonus_points")),
    ],
)
def test_unknown_keys_are_refused(default_raw: dict[str, Any], path: tuple[Any, ...], expected_loc: tuple) -> None:
    # Given an extra, unknown key somewhere in the document
    target: Any = default_raw
    for step in path:
        target = target[step]
    target["bonus_points"] = 10

    # When validated / Then an extra_forbidden error at that key
    errors = errors_of(default_raw)
    assert [(e["type"], e["loc"]) for e in errors] == [("extra_forbidden", expected_loc)]


def test_monthly_bonus_needs_an_order_rule(default_raw: dict[str, Any]) -> None:
    default_raw["earning_rules"] = [r for r in default_raw["earning_rules"] if r["event_type"] != "order_completed"]
    errors = errors_of(default_raw)
    assert "monthly_bonus needs an order_completed earning rule" in errors[0]["msg"]


@pytest.mark.parametrize(
    "expiry",
    [
        {"policy": "rolling_days", "days": 0},
        {"policy": "rolling_days"},
        {"policy": "month_end", "months_after": -1},
        {"policy": "year_end", "years_after": -1},
        {"policy": "weekly"},
    ],
)
def test_invalid_expiry_policies_are_refused(default_raw: dict[str, Any], expiry: dict[str, Any]) -> None:
    default_raw["expiry"] = expiry
    assert all(field.startswith("expiry") for field in fields_of(default_raw))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "0.0000001", "abc"])
def test_rates_must_be_finite_decimals_with_at_most_6_places(default_raw: dict[str, Any], value: str) -> None:
    default_raw["earning_rules"][0]["growth_per_unit"] = value
    assert fields_of(default_raw) == ["earning_rules.0.growth_per_unit"]


def test_tier_multiplier_must_be_positive(default_raw: dict[str, Any]) -> None:
    default_raw["tiers"][1]["points_multiplier"] = "0"
    assert fields_of(default_raw) == ["tiers.1.points_multiplier"]


def test_lookups_on_a_valid_config(default_raw: dict[str, Any]) -> None:
    config = ProgramConfig.model_validate(default_raw)
    # tier_for_growth: highest tier reached
    assert [config.tier_for_growth(g).code for g in (0, 1, 1999, 2000, 9999, 10000, 29999, 30000, 10**9)] == [
        "registered",
        "bronze",
        "bronze",
        "silver",
        "silver",
        "gold",
        "gold",
        "diamond",
        "diamond",
    ]
    # unknown tier codes (renamed by an admin) fall back to the first tier, rank 0
    assert config.tier("platinum").code == "registered"
    assert config.tier_rank("platinum") == 0
    assert config.tier_rank("diamond") == 4
