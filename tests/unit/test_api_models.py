"""Request models (``shared.api``) and how their errors reach clients (``shared.http``).

Powertools validates the body with pydantic and reports errors with ``("body", ...)`` in front
of pydantic's ``loc``; ``_field_detail`` turns each into ``{"field", "in", "message"}``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.api import (
    EventIn,
    LoginEvent,
    OrderCompletedEvent,
    PhotoReviewApprovedEvent,
    RedemptionIn,
    event_attributes,
)
from shared.http import _field_detail, validation_response

EVENTS = TypeAdapter(EventIn)


def order_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": "evt-1",
        "type": "order_completed",
        "occurred_at": "2026-11-22T08:00:00Z",
        "attributes": {"order_id": "o-1", "settled_amount": "199.90"},
    }
    body.update(changes)
    return body


def order_with_amount(amount: Any) -> dict[str, Any]:
    return order_body(attributes={"order_id": "o-1", "settled_amount": amount})


def redemption_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"redemption_id": "r-1", "points": 100}
    body.update(changes)
    return body


def event_errors(body: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as invalid:
        EVENTS.validate_python(body)
    return list(invalid.value.errors())


def redemption_errors(body: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as invalid:
        RedemptionIn.model_validate(body)
    return list(invalid.value.errors())


def as_powertools(error: dict[str, Any]) -> dict[str, Any]:
    """The error as Powertools' RequestValidationError carries it: ``loc`` starts with 'body'."""
    return {**error, "loc": ("body", *error["loc"])}


def event_fields(body: Any) -> list[str]:
    return [_field_detail(as_powertools(e))["field"] for e in event_errors(body)]


def redemption_fields(body: Any) -> list[str]:
    return [_field_detail(as_powertools(e))["field"] for e in redemption_errors(body)]


# --- valid events ------------------------------------------------------------------------------------


def test_order_with_decimal_string_amount_is_accepted() -> None:
    # Given an order body with "199.90" / When validated
    event = EVENTS.validate_python(order_body())

    # Then it is an order, the amount stays the exact string, and the rules get a Decimal
    assert isinstance(event, OrderCompletedEvent)
    assert event.attributes.settled_amount == "199.90"
    assert event.occurred_at == datetime(2026, 11, 22, 8, tzinfo=UTC)
    attributes = event_attributes(event)
    assert attributes["settled_amount"] == Decimal("199.90")
    assert isinstance(attributes["settled_amount"], Decimal)


@pytest.mark.parametrize("amount", ["0", "0.99", "199", "199.9", "199.90", "1.2345", "999999999999.9999"])
def test_decimal_string_amounts_are_accepted(amount: str) -> None:
    event = EVENTS.validate_python(order_with_amount(amount))
    assert event_attributes(event)["settled_amount"] == Decimal(amount)


def test_occurred_at_with_an_offset_is_accepted_as_that_instant() -> None:
    event = EVENTS.validate_python(order_body(occurred_at="2026-11-23T00:30:00+08:00"))
    assert event.occurred_at == datetime(2026, 11, 22, 16, 30, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(hours=8)
    assert event.occurred_at.tzinfo == timezone(timedelta(hours=8))


def test_login_needs_no_attributes_and_keeps_member_attributes() -> None:
    event = EVENTS.validate_python(
        {
            "event_id": "login-1",
            "type": "login",
            "occurred_at": "2026-11-22T08:00:00Z",
            "member_attributes": {"account_type": "kol"},
        }
    )
    assert isinstance(event, LoginEvent)
    assert event.member_attributes == {"account_type": "kol"}


def test_photo_review_reads_rank_and_price() -> None:
    event = EVENTS.validate_python(
        {
            "event_id": "p-1",
            "type": "photo_review_approved",
            "occurred_at": "2026-11-22T08:00:00Z",
            "attributes": {"item_id": "sku-1", "item_price": "20.00", "rank": 10},
        }
    )
    assert isinstance(event, PhotoReviewApprovedEvent)
    assert event_attributes(event) == {"item_id": "sku-1", "item_price": Decimal("20.00"), "order_id": None, "rank": 10}


def test_unknown_attributes_are_ignored_but_unknown_top_level_keys_are_refused() -> None:
    # Given extra facts inside attributes (SKUs) / Then accepted
    body = order_body(attributes={"order_id": "o-1", "settled_amount": "1.00", "sku": "x"})
    EVENTS.validate_python(body)
    # Given an extra top-level key / Then refused at that key
    assert event_fields(order_body(points=50)) == ["points"]


# --- invalid events --------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [199.9, 199, "abc", "-1.00", "1e3", "199.", ".5", "1.23456", "", " 1", None])
def test_settled_amount_must_be_a_non_negative_decimal_string(amount: Any) -> None:
    # Given an amount that is a JSON number or not a plain decimal string
    # When validated / Then refused, at attributes.settled_amount
    errors = event_errors(order_with_amount(amount))
    assert [e["loc"] for e in errors] == [("order_completed", "attributes", "settled_amount")]
    assert event_fields(order_with_amount(amount)) == ["attributes.settled_amount"]


def test_json_number_amount_message_says_strings_are_required() -> None:
    (error,) = event_errors(order_with_amount(199.9))
    assert "must be a string" in error["msg"]


def test_missing_settled_amount_is_named() -> None:
    assert event_fields(order_body(attributes={"order_id": "o-1"})) == ["attributes.settled_amount"]


@pytest.mark.parametrize("event_id", ["a" * 129, "a#b", "", "-leading-dash", "has space", "ümlaut"])
def test_bad_event_ids_are_refused(event_id: str) -> None:
    # Given an id too long, with '#', empty, or outside the id alphabet / Then refused at event_id
    assert event_fields(order_body(event_id=event_id)) == ["event_id"]


def test_ids_of_128_characters_are_accepted() -> None:
    EVENTS.validate_python(order_body(event_id="a" * 128))


def test_nested_ids_are_checked_too() -> None:
    body = order_body(attributes={"order_id": "o#1", "settled_amount": "1.00"})
    assert event_fields(body) == ["attributes.order_id"]


@pytest.mark.parametrize("occurred_at", ["2026-11-22T08:00:00", "2026-11-22", 1763798400, "yesterday"])
def test_occurred_at_must_be_a_timestamp_string_with_an_offset(occurred_at: Any) -> None:
    assert event_fields(order_body(occurred_at=occurred_at)) == ["occurred_at"]


def test_naive_occurred_at_is_reported_as_timezone_missing() -> None:
    (error,) = event_errors(order_body(occurred_at="2026-11-22T08:00:00"))
    assert error["type"] == "timezone_aware"


def test_unknown_event_type_is_refused_at_type() -> None:
    # Given a type the engine does not know / When validated
    errors = event_errors(order_body(type="order_shipped"))

    # Then a union_tag_invalid error, reported to clients at field `type`
    assert [e["type"] for e in errors] == ["union_tag_invalid"]
    assert event_fields(order_body(type="order_shipped")) == ["type"]


def test_missing_event_type_is_refused_at_type() -> None:
    body = order_body()
    del body["type"]
    assert [e["type"] for e in event_errors(body)] == ["union_tag_not_found"]
    assert event_fields(body) == ["type"]


@pytest.mark.parametrize("rank", [0, -1, "3", 3.0])
def test_photo_review_rank_is_a_strict_positive_integer(rank: Any) -> None:
    body = {
        "event_id": "p-1",
        "type": "photo_review_approved",
        "occurred_at": "2026-11-22T08:00:00Z",
        "attributes": {"item_id": "sku-1", "item_price": "20.00", "rank": rank},
    }
    assert event_fields(body) == ["attributes.rank"]


def test_member_attribute_values_must_be_strings() -> None:
    body = order_body(member_attributes={"account_type": 1})
    assert event_fields(body) == ["member_attributes.account_type"]


def test_at_most_20_member_attributes() -> None:
    body = order_body(member_attributes={f"k{i}": "v" for i in range(21)})
    assert event_fields(body) == ["member_attributes"]


# --- redemptions -----------------------------------------------------------------------------------


def test_valid_redemption_is_accepted() -> None:
    redemption = RedemptionIn.model_validate(redemption_body(occurred_at="2026-11-22T08:00:00Z"))
    assert redemption.points == 100
    assert redemption.occurred_at == datetime(2026, 11, 22, 8, tzinfo=UTC)


@pytest.mark.parametrize("points", [10.0, "10", 0, -1, -100, 1_000_000_001, True, None])
def test_points_must_be_a_positive_json_integer(points: Any) -> None:
    # Given points as a float, a string, zero, negative, too large, a boolean or null
    # When validated / Then refused at `points`
    assert redemption_fields(redemption_body(points=points)) == ["points"]


@pytest.mark.parametrize("redemption_id", ["r" * 129, "r#1", ""])
def test_bad_redemption_ids_are_refused(redemption_id: str) -> None:
    assert redemption_fields(redemption_body(redemption_id=redemption_id)) == ["redemption_id"]


def test_redemption_occurred_at_without_offset_is_refused() -> None:
    assert redemption_fields(redemption_body(occurred_at="2026-11-22T08:00:00")) == ["occurred_at"]


def test_redemption_refuses_unknown_keys() -> None:
    assert redemption_fields(redemption_body(member_id="m-1")) == ["member_id"]


# --- error mapping (shared.http) ---------------------------------------------------------------------


def test_field_detail_names_the_field_and_location() -> None:
    # Given the Powertools-shaped error for a JSON-number amount
    (error,) = event_errors(order_with_amount(199.9))

    # When mapped / Then the client sees the dotted field, its location and pydantic's message
    assert _field_detail(as_powertools(error)) == {
        "field": "attributes.settled_amount",
        "in": "body",
        "message": error["msg"],
    }


def test_json_invalid_maps_to_field_body() -> None:
    # Given a body that is not JSON / When pydantic parses it
    with pytest.raises(ValidationError) as invalid:
        EVENTS.validate_json('{"event_id": ')
    (error,) = invalid.value.errors()
    assert error["type"] == "json_invalid"

    # Then it maps to field `body`, in `body`, with a "malformed JSON" message
    detail = _field_detail(as_powertools(error))
    assert detail["field"] == "body"
    assert detail["in"] == "body"
    assert detail["message"].startswith("malformed JSON")


def test_json_invalid_with_a_position_maps_to_field_body() -> None:
    # Powertools reports a JSON decoding error as loc ("body", <position>)
    error = {
        "type": "json_invalid",
        "loc": ("body", 12),
        "msg": "JSON decode error",
        "ctx": {"error": "Expecting value"},
    }
    assert _field_detail(error) == {"field": "body", "in": "body", "message": "malformed JSON: Expecting value at 12"}


@pytest.mark.parametrize(
    ("loc", "field", "location"),
    [
        (("path", "member_id"), "member_id", "path"),
        (("query", "limit"), "limit", "query"),
        (("header", "if-match"), "if-match", "header"),
        (("body",), "body", "body"),
        ((), "body", "body"),
    ],
)
def test_field_detail_for_non_body_locations(loc: tuple, field: str, location: str) -> None:
    detail = _field_detail({"type": "string_pattern_mismatch", "loc": loc, "msg": "bad"})
    assert detail == {"field": field, "in": location, "message": "bad"}


def test_validation_response_is_a_422_envelope_naming_every_field() -> None:
    # Given a body with a bad id and a JSON-number amount
    body = order_body(event_id="a#b", attributes={"order_id": "o-1", "settled_amount": 199.9})
    errors = [as_powertools(e) for e in event_errors(body)]

    # When mapped to a response
    response = validation_response(errors)

    # Then a 422 VALIDATION_ERROR whose details name both fields
    assert response.status_code == 422
    payload = json.loads(response.body)
    assert payload["error"]["code"] == "VALIDATION_ERROR"
    assert sorted(d["field"] for d in payload["error"]["details"]) == ["attributes.settled_amount", "event_id"]
    assert all(d["in"] == "body" for d in payload["error"]["details"])
    assert payload["error"]["message"] == "invalid request: attributes.settled_amount, event_id"


def test_member_attribute_named_like_an_event_type_keeps_its_name_in_the_error() -> None:
    # Given a member attribute whose name happens to equal an event type ("login"), with a bad value
    body = order_body(member_attributes={"login": 5})
    (error,) = event_errors(body)
    assert error["loc"] == ("order_completed", "member_attributes", "login")

    # When mapped for the client / Then the field names the attribute, like any other attribute
    # (compare test_member_attribute_values_must_be_strings: "member_attributes.account_type")
    assert _field_detail(as_powertools(error))["field"] == "member_attributes.login"
