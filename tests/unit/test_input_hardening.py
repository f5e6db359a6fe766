"""Input hardening: timestamps, free text, member attributes, the program config's bounds.

Bad input is a 422 naming the field, never a 500 and never written. Each group guards a whole
class of fields (found by walking the models), not one case.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, get_args

import annotated_types
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared import api
from shared.api import (
    MAX_POINTS,
    EventIn,
    LoginEvent,
    MoneyText,
    OrderCompletedEvent,
    OrderRefundedEvent,
    PhotoReviewApprovedEvent,
    RedemptionIn,
    ReversalIn,
    ReviewApprovedEvent,
)
from shared.errors import ValidationFailed
from shared.http import _field_detail
from shared.program import (
    MAX_MEMBER_ATTRIBUTES,
    Benefit,
    GrowthCoefficient,
    LoginRule,
    MonthlyBonus,
    OrderRule,
    PhotoReviewRule,
    ProgramConfig,
    ReviewRule,
    Tier,
)
from shared.rules import BusinessEvent, MemberState, apply_event

EVENTS = TypeAdapter(EventIn)
REQUEST_MODELS: list[type[BaseModel]] = [
    OrderCompletedEvent,
    OrderRefundedEvent,
    LoginEvent,
    ReviewApprovedEvent,
    PhotoReviewApprovedEvent,
    RedemptionIn,
    ReversalIn,
]
DYNAMODB_DIGITS = 38
"""A DynamoDB number holds at most 38 significant digits."""
LEDGER_ENTRIES = 10**12
"""A member's ledger sequence has at most 12 digits."""


def order_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": "evt-1",
        "type": "order_completed",
        "occurred_at": "2026-11-22T08:00:00Z",
        "attributes": {"order_id": "o-1", "settled_amount": "199.90"},
    }
    body.update(changes)
    return body


def client_fields(error: ValidationError) -> list[str]:
    """The fields a client sees in the 422's details (Powertools puts 'body' in front of loc)."""
    return [_field_detail({**e, "loc": ("body", *e["loc"])})["field"] for e in error.errors()]


def event_fields(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as invalid:
        EVENTS.validate_python(body)
    return client_fields(invalid.value)


def config_fields(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as invalid:
        ProgramConfig.model_validate(raw)
    return client_fields(invalid.value)


def models_within(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every model its fields hold (lists, dicts, unions), each once."""
    found: list[type[BaseModel]] = []

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in found:
            found.append(annotation)
            for info in annotation.model_fields.values():
                visit(info.annotation)
        for arg in get_args(annotation):
            visit(arg)

    visit(model)
    return found


def field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(annotation)


# --- 8. timestamps: RFC 3339 with an offset, never a Unix time -----------------------------------------

UNIX_LOOKALIKES = ["20261122", "1700000000000", "0", "1.5", "-1", "1e9", " 20261122"]
NOT_RFC3339 = [
    "2026-11-22 08:00:00Z",  # a space: ISO 8601, not RFC 3339's date-time
    "2026-11-22T08:00:00+0800",  # offset without a colon
    "2026-11-22T08:00Z",  # no seconds
    "2026-11-22",
    "2026-11-22T08:00:00Z\n",
    "\uff12\uff10\uff12\uff16-11-22T08:00:00Z",  # fullwidth digits (str.isdigit() says yes)
]


def timestamp_fields() -> list[tuple[type[BaseModel], str]]:
    """Every datetime field of every request model (and of the program config: none today)."""
    fields = []
    roots: list[type[BaseModel]] = [*REQUEST_MODELS, ProgramConfig]
    for root in roots:
        for model in models_within(root):
            for name, info in model.model_fields.items():
                if re.search(r"datetime|\bdate\b", str(info.annotation).lower()) and (model, name) not in fields:
                    fields.append((model, name))
    return fields


def test_every_timestamp_field_is_found() -> None:
    # The walk below must see the request timestamps; the program config has none.
    assert {(m.__name__, n) for m, n in timestamp_fields()} == {
        *((m.__name__, "occurred_at") for m in REQUEST_MODELS),
    }


@pytest.mark.parametrize(("model", "name"), timestamp_fields(), ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("text", UNIX_LOOKALIKES + NOT_RFC3339)
def test_timestamps_refuse_unix_times_and_non_rfc3339_text(model: type[BaseModel], name: str, text: str) -> None:
    # Given a timestamp field and text pydantic alone would read as seconds since 1970 (or that
    # is not RFC 3339) / When validated / Then refused
    with pytest.raises(ValidationError):
        field_adapter(model, name).validate_python(text)


@pytest.mark.parametrize("text", ["20261122", "1700000000000", "0", "1.5"])
def test_the_issues_occurred_at_is_a_422_at_occurred_at(text: str) -> None:
    assert event_fields(order_body(occurred_at=text)) == ["occurred_at"]
    with pytest.raises(ValidationError) as invalid:
        RedemptionIn.model_validate({"redemption_id": "r-1", "points": 1, "occurred_at": text})
    assert client_fields(invalid.value) == ["occurred_at"]
    with pytest.raises(ValidationError) as invalid:
        ReversalIn.model_validate({"occurred_at": text})
    assert client_fields(invalid.value) == ["occurred_at"]


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-22T08:00:00Z", datetime(2026, 11, 22, 8, tzinfo=UTC)),
        ("2026-11-22T08:00:00.123+08:00", datetime(2026, 11, 22, 0, 0, 0, 123000, tzinfo=UTC)),
        ("2026-11-22t08:00:00z", datetime(2026, 11, 22, 8, tzinfo=UTC)),
        ("2026-11-22T08:00:00-00:00", datetime(2026, 11, 22, 8, tzinfo=UTC)),
        ("2026-11-22T08:00:00.123456789Z", datetime(2026, 11, 22, 8, 0, 0, 123456, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_rfc3339_with_an_offset_is_accepted(text: str, instant: datetime) -> None:
    assert EVENTS.validate_python(order_body(occurred_at=text)).occurred_at == instant


def test_a_missing_offset_is_still_reported_as_timezone_missing() -> None:
    with pytest.raises(ValidationError) as invalid:
        EVENTS.validate_python(order_body(occurred_at="2026-11-22T08:00:00"))
    assert [e["type"] for e in invalid.value.errors()] == ["timezone_aware"]


# --- 10. one text rule: no lone surrogates, no control characters ---------------------------------------

SURROGATE = "\ud800"


def unchecked_strings(schema: Any, path: str = "") -> list[str]:
    """Paths of JSON-schema strings that neither a pattern, an enum nor a format constrains
    (a decimal's string form, beside its number form, is a number: skipped)."""
    found: list[str] = []
    if isinstance(schema, dict) and any(s.get("type") == "number" for s in schema.get("anyOf", [])):
        return found
    if isinstance(schema, dict):
        if schema.get("type") == "string" and not ({"pattern", "enum", "const", "format"} & schema.keys()):
            found.append(path)
        for key, value in schema.items():
            found += unchecked_strings(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += unchecked_strings(value, f"{path}/{index}")
    return found


@pytest.mark.parametrize("model", [*REQUEST_MODELS, ProgramConfig], ids=lambda m: m.__name__)
def test_every_string_field_has_a_pattern(model: type[BaseModel]) -> None:
    # Ids, codes, amounts and currencies have their own patterns; every free text has Text's.
    # A pattern also makes pydantic read the value as UTF-8 text, refusing lone surrogates.
    assert unchecked_strings(model.model_json_schema()) == []


def login_body(**attributes: Any) -> dict[str, Any]:
    return {"event_id": "l-1", "type": "login", "occurred_at": "2026-11-22T08:00:00Z", "attributes": attributes}


@pytest.mark.parametrize("bad", [SURROGATE, "a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "line\nbreak", "tab\there"])
def test_request_text_refuses_surrogates_and_control_characters(bad: str) -> None:
    assert event_fields(order_body(member_attributes={"name": bad})) == ["member_attributes.name"]
    assert event_fields(login_body(channel=bad)) == ["attributes.channel"]
    fields = event_fields(order_body(member_attributes={bad: "value"}))
    assert len(fields) == 1
    assert fields[0].startswith("member_attributes.")


@pytest.mark.parametrize("bad", [SURROGATE, "a\x00b", "a\x1bb", "a\x7fb", "a\x9fb"])
def test_notes_refuse_surrogates_and_control_characters(bad: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        RedemptionIn.model_validate({"redemption_id": "r-1", "points": 1, "description": bad})
    assert client_fields(invalid.value) == ["description"]
    with pytest.raises(ValidationError) as invalid:
        ReversalIn.model_validate({"reason": bad})
    assert client_fields(invalid.value) == ["reason"]


def test_notes_may_span_lines_and_any_text_may_be_any_language() -> None:
    note = "Order 1001 cancelled\r\n\tcoupon unused: 优惠券未使用 👍"
    assert RedemptionIn.model_validate({"redemption_id": "r-1", "points": 1, "description": note}).description == note
    assert ReversalIn.model_validate({"reason": note}).reason == note
    event = EVENTS.validate_python(order_body(member_attributes={"城市": "上海 👍", "e\u0301": "zwj \u200d"}))
    assert event.member_attributes == {"城市": "上海 👍", "e\u0301": "zwj \u200d"}


def test_the_issues_surrogate_key_is_a_422_at_member_attributes() -> None:
    (field,) = event_fields(order_body(member_attributes={SURROGATE: "x"}))
    assert field.startswith("member_attributes.")


def config_text_fields() -> list[tuple[str, Any]]:
    """(client field, how to put a text into a raw default config) for every config text."""

    def at(*path: Any) -> Any:
        def put(raw: dict[str, Any], text: str) -> None:
            target = raw
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = text

        return put

    return [
        ("name", at("name")),
        ("time_zone", at("time_zone")),
        ("tiers.2.name", at("tiers", 2, "name")),
        ("tiers.2.benefits.0.name", at("tiers", 2, "benefits", 0, "name")),
        (
            "earning_rules.0.growth_coefficients.0.attribute",
            at("earning_rules", 0, "growth_coefficients", 0, "attribute"),
        ),
        ("earning_rules.0.growth_coefficients.0.equals", at("earning_rules", 0, "growth_coefficients", 0, "equals")),
    ]


@pytest.mark.parametrize(("field", "put"), config_text_fields(), ids=[f for f, _ in config_text_fields()])
@pytest.mark.parametrize("bad", [SURROGATE, "a\x00b", "a\nb", "a\x9fb"])
def test_config_text_refuses_surrogates_and_control_characters(
    default_raw: dict[str, Any], field: str, put: Any, bad: str
) -> None:
    put(default_raw, bad)
    assert config_fields(default_raw) == [field]


@pytest.mark.parametrize("bad", [SURROGATE, "a\x00b"])
def test_benefit_text_parameters_follow_the_text_rule(default_raw: dict[str, Any], bad: str) -> None:
    default_raw["tiers"][2]["benefits"][0]["params"]["note"] = bad
    assert all(f.startswith("tiers.2.benefits.0.params.note") for f in config_fields(default_raw))


def test_config_text_may_be_any_language(default_raw: dict[str, Any]) -> None:
    default_raw["name"] = "京东 默认 👍"
    default_raw["tiers"][2]["name"] = "白银会员"
    assert ProgramConfig.model_validate(default_raw).tiers[2].name == "白银会员"


# --- 9. member attributes: a total cap, and null removes ------------------------------------------------


def member(attributes: dict[str, str] | None = None) -> MemberState:
    return MemberState(program_id="default", member_id="m-1", attributes=attributes or {})


def login_event(member_attributes: dict[str, Any]) -> BusinessEvent:
    return BusinessEvent(
        event_id="l-1",
        type="login",
        occurred_at=datetime(2026, 11, 22, 8, tzinfo=UTC),
        member_attributes=member_attributes,
    )


def order_event(amount: str, member_attributes: dict[str, Any] | None = None) -> BusinessEvent:
    return BusinessEvent(
        event_id="o-1",
        type="order_completed",
        occurred_at=datetime(2026, 11, 22, 8, tzinfo=UTC),
        attributes={"order_id": "o-1", "settled_amount": Decimal(amount)},
        member_attributes=member_attributes or {},
    )


def names(count: int, prefix: str = "k") -> dict[str, str]:
    return {f"{prefix}{i}": "v" for i in range(count)}


def test_a_null_value_removes_the_attribute(default_config: ProgramConfig) -> None:
    state = member({"account_type": "kol", "plus": "yes"})
    outcome = apply_event(default_config, state, login_event({"plus": None, "city": "sh", "gone": None}))
    assert dict(outcome.state.attributes) == {"account_type": "kol", "city": "sh"}


def test_removing_an_attribute_takes_effect_before_the_rules(default_config: ProgramConfig) -> None:
    # Given a KOL member (growth x 1.5) / When an order removes account_type / Then growth x 1
    outcome = apply_event(default_config, member({"account_type": "kol"}), order_event("100", {"account_type": None}))
    assert (outcome.points, outcome.growth) == (100, 100)
    assert "account_type" not in outcome.state.attributes


def test_the_api_accepts_null_to_remove_an_attribute() -> None:
    event = EVENTS.validate_python(order_body(member_attributes={"plus": None, "city": "sh"}))
    assert event.member_attributes == {"plus": None, "city": "sh"}


def test_attributes_fill_up_to_the_cap(default_config: ProgramConfig) -> None:
    state = member()
    for batch in range(0, MAX_MEMBER_ATTRIBUTES, 20):
        size = min(20, MAX_MEMBER_ATTRIBUTES - batch)
        state = apply_event(default_config, state, login_event(names(size, f"b{batch}-"))).state
    assert len(state.attributes) == MAX_MEMBER_ATTRIBUTES


def test_a_new_name_past_the_cap_is_refused_naming_member_attributes(default_config: ProgramConfig) -> None:
    state = member(names(MAX_MEMBER_ATTRIBUTES))
    with pytest.raises(ValidationFailed) as refused:
        apply_event(default_config, state, login_event({"one_more": "v"}))
    assert refused.value.status == 422
    assert [d["field"] for d in refused.value.details] == ["member_attributes"]
    assert str(MAX_MEMBER_ATTRIBUTES) in refused.value.message


def test_at_the_cap_values_change_and_names_swap(default_config: ProgramConfig) -> None:
    state = member(names(MAX_MEMBER_ATTRIBUTES))
    outcome = apply_event(default_config, state, login_event({"k0": "changed", "k1": None, "new": "v"}))
    assert len(outcome.state.attributes) == MAX_MEMBER_ATTRIBUTES
    assert outcome.state.attributes["k0"] == "changed"
    assert "new" in outcome.state.attributes


def test_a_member_over_the_cap_from_before_still_earns_and_shrinks(default_config: ProgramConfig) -> None:
    # Given a member holding more names than the cap (stored before the cap existed)
    state = member(names(MAX_MEMBER_ATTRIBUTES + 10))
    # Orders and value changes still apply, removals shrink it; only growing is refused
    assert apply_event(default_config, state, order_event("10", {"k0": "x"})).points == 10
    shrunk = apply_event(default_config, state, login_event({"k1": None, "k2": None, "new": "v"})).state
    assert len(shrunk.attributes) == MAX_MEMBER_ATTRIBUTES + 9
    with pytest.raises(ValidationFailed):
        apply_event(default_config, state, login_event({"new": "v"}))


def test_the_per_event_limits_stay(default_config: ProgramConfig) -> None:
    assert event_fields(order_body(member_attributes=names(21))) == ["member_attributes"]
    assert event_fields(order_body(member_attributes={"k": "v" * 257})) == ["member_attributes.k"]
    assert event_fields(order_body(member_attributes={"k" * 65: "v"}))[0].startswith("member_attributes.")
    assert event_fields(order_body(member_attributes={"": "v"}))[0].startswith("member_attributes.")


# --- 11. config bounds: no accepted config can overflow a DynamoDB number --------------------------------


def upper_bound(model: type[BaseModel], name: str) -> Decimal:
    """The field's declared upper bound (``le`` or ``lt``); fails when it has none."""
    for constraint in model.model_fields[name].metadata:
        if isinstance(constraint, annotated_types.Le):
            return Decimal(str(constraint.le))
        if isinstance(constraint, annotated_types.Lt):
            return Decimal(str(constraint.lt))
    raise AssertionError(f"{model.__name__}.{name} has no upper bound")


def max_digits(model: type[BaseModel], name: str) -> int:
    for constraint in model.model_fields[name].metadata:
        digits = getattr(constraint, "max_digits", None)
        if digits is not None:
            return int(digits)
    raise AssertionError(f"{model.__name__}.{name} has no max_digits")


def amount_bound() -> Decimal:
    """Order amounts (``MoneyText``) are below 10^12 with at most 4 decimals: checked, not assumed."""
    money = TypeAdapter(MoneyText)
    assert money.validate_python("999999999999.9999")
    for too_much in ("1000000000000", "0.00001"):
        with pytest.raises(ValidationError):
            money.validate_python(too_much)
    return Decimal(10**12)


def test_largest_lifetime_total_fits_a_dynamodb_number() -> None:
    # Given the bounds the models declare (not copies of them)
    amount = amount_bound()
    multiplier = upper_bound(Tier, "points_multiplier")
    coefficient = upper_bound(GrowthCoefficient, "coefficient")
    fixed = {
        (rule, kind): upper_bound(rule, kind)
        for rule in (LoginRule, ReviewRule, PhotoReviewRule, MonthlyBonus)
        for kind in ("points", "growth")
    }
    # The largest award one event can give, as _order_awards, _login_award, _review_award and
    # the monthly bonus compute it (an order can also earn the monthly bonus)
    order_points = amount * upper_bound(OrderRule, "points_per_unit") * multiplier
    order_growth = amount * upper_bound(OrderRule, "growth_per_unit") * coefficient
    per_event = max(
        order_points + fixed[MonthlyBonus, "points"],
        order_growth + fixed[MonthlyBonus, "growth"],
        *(fixed[rule, kind] for rule in (LoginRule, ReviewRule, PhotoReviewRule) for kind in ("points", "growth")),
        Decimal(MAX_POINTS),  # a redemption or a reversal moves at most this many points
        upper_bound(ProgramConfig, "max_points_per_redemption"),
    )
    # Then a member's whole life of them (balance, growth, a lot) stays below 10^38 as an integer
    lifetime = per_event * LEDGER_ENTRIES
    assert lifetime < Decimal(10) ** DYNAMODB_DIGITS, lifetime
    # (and the tier thresholds and deductions an anniversary takes are bounded too)
    assert upper_bound(Tier, "min_growth") < Decimal(10) ** DYNAMODB_DIGITS
    assert upper_bound(Tier, "anniversary_deduction") < Decimal(10) ** DYNAMODB_DIGITS


def test_order_rates_stay_exact_and_storable() -> None:
    # An order's rates (rate x multiplier, rate x coefficient) are kept with the order for
    # refunds; the products are computed at 80 digits (shared.rules.order_rates): both exact.
    points_rate = max_digits(OrderRule, "points_per_unit") + max_digits(Tier, "points_multiplier")
    growth_rate = max_digits(OrderRule, "growth_per_unit") + max_digits(GrowthCoefficient, "coefficient")
    assert max(points_rate, growth_rate) <= DYNAMODB_DIGITS
    amount_digits = 16  # MoneyText: 12 + 4
    assert amount_digits + max(points_rate, growth_rate) <= 80


def test_the_rules_at_the_bounds_give_what_the_bound_computation_says(make_config: Any) -> None:
    # Given a config at every bound and a member in its top tier
    def at_the_bounds(raw: dict[str, Any]) -> None:
        rule = raw["earning_rules"][0]
        rule["points_per_unit"] = str(upper_bound(OrderRule, "points_per_unit"))
        rule["growth_per_unit"] = str(upper_bound(OrderRule, "growth_per_unit"))
        rule["growth_coefficients"][0]["coefficient"] = str(upper_bound(GrowthCoefficient, "coefficient"))
        raw["tiers"][-1]["points_multiplier"] = str(upper_bound(Tier, "points_multiplier"))
        raw["monthly_bonus"] = {"min_orders": 1, "points": 10_000_000, "growth": 10_000_000}

    config = make_config(at_the_bounds)
    state = MemberState(
        program_id="default", member_id="m-1", tier=config.tiers[-1].code, attributes={"account_type": "kol"}
    )
    # When the largest order arrives
    outcome = apply_event(config, state, order_event("999999999999.9999"))
    # Then its award is the computed maximum, 17 digits: 10^12 of them stay far below 10^38
    assert outcome.points == 999_999_999_999 * 1000 * 100 + 10_000_000
    assert outcome.growth < (10**12 * 1000 * 100) + 10_000_000
    assert len(str(outcome.points * LEDGER_ENTRIES)) < DYNAMODB_DIGITS


def issue_config(default_raw: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(default_raw)
    raw["earning_rules"][0]["points_per_unit"] = "987654321987.654321"
    raw["tiers"][4]["points_multiplier"] = "999999999999.999999"
    return raw


def test_the_issues_config_is_refused_naming_the_fields(default_raw: dict[str, Any]) -> None:
    assert sorted(config_fields(issue_config(default_raw))) == [
        "earning_rules.0.points_per_unit",
        "tiers.4.points_multiplier",
    ]


@pytest.mark.parametrize(
    ("field", "edit"),
    [
        ("earning_rules.0.points_per_unit", lambda r: r["earning_rules"][0].update(points_per_unit="1000.000001")),
        ("earning_rules.0.growth_per_unit", lambda r: r["earning_rules"][0].update(growth_per_unit="1E+4")),
        (
            "earning_rules.0.growth_coefficients.0.coefficient",
            lambda r: r["earning_rules"][0]["growth_coefficients"][0].update(coefficient="100.5"),
        ),
        ("tiers.3.points_multiplier", lambda r: r["tiers"][3].update(points_multiplier="101")),
        ("earning_rules.2.min_item_price", lambda r: r["earning_rules"][2].update(min_item_price="1000000000000")),
        ("earning_rules.1.growth", lambda r: r["earning_rules"][1].update(growth=10_000_001)),
        ("monthly_bonus.points", lambda r: r["monthly_bonus"].update(points=10_000_001)),
        ("tiers.4.min_growth", lambda r: r["tiers"][4].update(min_growth=10_000_001)),
        ("max_points_per_redemption", lambda r: r.update(max_points_per_redemption=MAX_POINTS + 1)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_numbers_past_their_bounds_are_refused(default_raw: dict[str, Any], field: str, edit: Any) -> None:
    edit(default_raw)
    assert config_fields(default_raw) == [field]


@pytest.mark.parametrize(
    ("edit", "value"),
    [
        (lambda r: r["earning_rules"][0].update(points_per_unit="1000"), Decimal(1000)),
        (lambda r: r["earning_rules"][0].update(points_per_unit="999.999999"), Decimal("999.999999")),
        (lambda r: r["tiers"][3].update(points_multiplier="100"), Decimal(100)),
    ],
)
def test_numbers_at_their_bounds_are_accepted(default_raw: dict[str, Any], edit: Any, value: Decimal) -> None:
    edit(default_raw)
    config = ProgramConfig.model_validate(default_raw)
    assert value in (config.earning_rules[0].points_per_unit, config.tiers[3].points_multiplier)  # type: ignore[union-attr]


def test_benefit_integers_stay_exact_in_javascript(default_raw: dict[str, Any]) -> None:
    default_raw["tiers"][2]["benefits"][0]["params"]["per_month"] = 2**53
    assert config_fields(default_raw)
    default_raw["tiers"][2]["benefits"][0]["params"]["per_month"] = 2**53 - 1
    assert ProgramConfig.model_validate(default_raw).tiers[2].benefits[0].params["per_month"] == 2**53 - 1


def test_every_config_number_has_an_upper_bound() -> None:
    # A sibling guard: every int or Decimal field of the config (and its parts) declares a maximum
    unbounded = []
    for model in models_within(ProgramConfig):
        for name, info in model.model_fields.items():
            if info.annotation in (int, Decimal):
                try:
                    upper_bound(model, name)
                except AssertionError:
                    unbounded.append(f"{model.__name__}.{name}")
    assert unbounded == []
    assert Benefit in models_within(ProgramConfig)


def test_request_numbers_are_bounded() -> None:
    assert upper_bound(ProgramConfig, "max_points_per_redemption") == api.MAX_POINTS
    with pytest.raises(ValidationError):
        EVENTS.validate_python(
            {
                "event_id": "p-1",
                "type": "photo_review_approved",
                "occurred_at": "2026-11-22T08:00:00Z",
                "attributes": {"item_id": "i", "item_price": "1", "rank": 10**40},
            }
        )
