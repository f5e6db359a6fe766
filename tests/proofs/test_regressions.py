"""Failing cases the proofs found, kept as regular tests (shrunk by Hypothesis, then by hand).

Each test names the proof that found it. A new one goes here when a proof fails: paste the
steps Hypothesis prints, trim them to what matters, and fix the engine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared import clock, write_cache
from tests.integration.conftest import Api, order, table_items

FIRST_MILLENNIUM = ["0026-05-01T17:01:00Z", "0999-12-31T23:59:59Z", "0001-01-01T00:30:00+01:00", "1969-12-31T23:59:59Z"]


@pytest.mark.parametrize("occurred_at", FIRST_MILLENNIUM)
def test_an_event_dated_before_1970_is_refused_naming_occurred_at(
    api: Api, dynamo: Any, member_id: str, occurred_at: str
) -> None:
    """Found by test_api_fuzz: an event dated year 26 was accepted and stored with its year
    written "26" (not RFC 3339); every later read or write of that member answered 500.
    Year 1 at +01:00 has no UTC form at all: the write itself answered 500."""
    before = table_items(dynamo, api.table_name)
    reply = api.event(member_id, {"event_id": "old", "type": "login", "occurred_at": occurred_at})
    assert reply.status == 422, reply.body
    assert [d["field"] for d in reply.body["error"]["details"]] == ["occurred_at"]
    redemption = api.redeem(member_id, {"redemption_id": "old", "points": 1, "occurred_at": occurred_at})
    assert redemption.status == 422, redemption.body
    assert table_items(dynamo, api.table_name) == before


def test_the_first_second_of_1970_is_a_business_time(api: Api, member_id: str) -> None:
    reply = api.event(member_id, {"event_id": "epoch", "type": "login", "occurred_at": "1970-01-01T00:00:00Z"})
    assert reply.status == 201, reply.body
    assert api.member(member_id).status == 200
    assert api.ledger(member_id).body["entries"][0]["occurred_at"] == "1970-01-01T00:00:00Z"


def test_utc_text_always_has_a_four_digit_year() -> None:
    """The cause of the year-26 failure: strftime's %Y does not pad years below 1000."""
    moment = datetime(26, 5, 1, 17, 1, tzinfo=UTC)
    assert clock.format_utc(moment) == "0026-05-01T17:01:00Z"
    assert clock.parse_utc(clock.format_utc(moment)) == moment
    assert clock.local_month(moment, "UTC") == "0026-05"


@pytest.mark.parametrize("body", [b"\x80", b'{"event_id": "\xff"}', b"\xde"])
def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(api: Api, dynamo: Any, member_id: str, body: bytes) -> None:
    """Found by test_api_fuzz: API Gateway base64-encodes a body that is not text, and the
    resolver's decoding of it raised UnicodeDecodeError: a 500."""
    before = table_items(dynamo, api.table_name)
    for route in ("events", "redemptions"):
        reply = api.call("POST", f"/v1/programs/default/members/{member_id}/{route}", raw=body)
        assert reply.status == 422, reply.body
        assert [d["field"] for d in reply.body["error"]["details"]] == ["body"]
    assert api.call("PUT", "/v1/programs/default", raw=body).status == 422
    assert table_items(dynamo, api.table_name) == before


def test_a_base64_encoded_json_body_is_read(api: Api, member_id: str) -> None:
    from local.engine import LambdaContext

    body = b'{"event_id": "b64", "type": "login", "occurred_at": "2026-11-22T00:00:00Z"}'
    event = _event(f"/v1/programs/default/members/{member_id}/events", body)
    # as API Gateway delivers it: with the claims of a caller allowed the route (auth off locally)
    assert api.auth is not None
    event["requestContext"]["authorizer"] = api.auth.authorize((), {}, 1795327200000)
    reply = api.handlers[_function_id(api, "/events")](event, LambdaContext("earn"))
    assert reply["statusCode"] == 201, reply


def _event(path: str, body: bytes) -> dict[str, Any]:
    import base64

    from local.apigw import http_event

    route = "/v1/programs/{program_id}/members/{member_id}/events"
    parts = path.split("/")
    event = http_event("POST", route, path, {"program_id": parts[3], "member_id": parts[5]}, None)
    return {**event, "body": base64.b64encode(body).decode(), "isBase64Encoded": True}


def _function_id(api: Api, suffix: str) -> str:
    return next(route.function_id for route in api.routes if route.method == "POST" and route.path.endswith(suffix))


def test_a_dynamodb_server_error_outlasting_retries_is_503_busy(api: Api, dynamo: Any, member_id: str) -> None:
    """Found by test_faults (random schedules): when botocore's retries ended on DynamoDB's
    InternalServerError the engine answered 500 INTERNAL, though nothing was written and the
    client may safely send the same key again: that is a 503 BUSY."""
    from tests.proofs.conftest import before_send, error_response, operation_of

    api.event(member_id, order("seed", "10"))
    before = table_items(dynamo, api.table_name)
    for operation in ("BatchGetItem", "TransactWriteItems"):
        sends = []
        write_cache.clear()  # a container that has not seen the member: it reads first

        def fail(request: Any, operation: str = operation, sends: list[str] = sends, **_kwargs: Any) -> Any:
            if operation_of(request) != operation:
                return None
            sends.append(operation)
            return error_response(request, "InternalServerError", 500)

        with before_send(fail):
            reply = api.redeem(member_id, {"redemption_id": "r", "points": 1})
        assert len(sends) == 4, (reply.status, reply.body)  # botocore retried it three times first
        assert (reply.status, reply.body["error"]["code"]) == (503, "BUSY"), reply.body
    assert table_items(dynamo, api.table_name) == before


def test_a_backdated_upgrade_never_starts_a_period_before_an_evaluated_anniversary(api: Api) -> None:
    """Found by test_model_based: a backdated upgrade's tier ``since`` is clamped to the current
    period start, but the new period itself started at the event's unclamped business time.
    So (1) an order from before the period counted as activity in it, and (2) a second
    backdated upgrade started its tier before an anniversary already evaluated: two
    anniversaries less than a year apart (the double deduction the clamp exists to prevent)."""
    import uuid

    program = f"reg-period-{uuid.uuid4().hex[:8]}"
    config = {
        "name": "Backdated upgrades",
        "time_zone": "UTC",
        "currency": "CNY",
        "earning_rules": [
            {"event_type": "order_completed", "points_per_unit": "1", "growth_per_unit": "1"},
            {"event_type": "login", "points": 0, "growth": 0, "per_local_day": 1},
        ],
        "tiers": [
            {"code": "registered", "name": "Registered", "min_growth": 0},
            {"code": "bronze", "name": "Bronze", "min_growth": 1},
            {"code": "silver", "name": "Silver", "min_growth": 100, "validity_months": 12, "anniversary_deduction": 10},
            {"code": "gold", "name": "Gold", "min_growth": 1000, "validity_months": 12, "anniversary_deduction": 100},
            {
                "code": "diamond",
                "name": "Diamond",
                "min_growth": 5000,
                "validity_months": 12,
                "anniversary_deduction": 500,
            },
        ],
        "expiry": {"policy": "never"},
    }
    start = datetime(2026, 1, 10, tzinfo=UTC)
    assert api.call("PUT", f"/v1/programs/{program}", config, at=start).status == 201
    member = "m"
    assert api.event(member, order("o1", "150", "2026-01-10T00:00:00Z"), program, at=start).status == 201
    # activity in Silver's first year (the attaining order opens the year, it is not activity in it)
    assert (
        api.event(member, order("o0", "1", "2026-06-01T00:00:00Z"), program, at=datetime(2026, 6, 2, tzinfo=UTC)).status
        == 201
    )
    later = datetime(2027, 1, 20, tzinfo=UTC)
    # A login (not qualifying) on the 20th applies the anniversary of the 10th: silver renewed.
    login = {"event_id": "l1", "type": "login", "occurred_at": "2027-01-20T00:00:00Z"}
    reply = api.event(member, login, program, at=later)
    assert reply.status == 201 and reply.body["anniversary_growth_deducted"] == 10, reply.body
    # An order from before that anniversary upgrades to gold: the tier starts at the anniversary...
    reply = api.event(member, order("o2", "900", "2027-01-05T00:00:00Z"), program, at=later)
    tier = reply.body["member"]["tier"]
    assert (tier["code"], tier["since"]) == ("gold", "2027-01-10T00:00:00Z"), tier
    # ... and so does its period: that order belongs to the period already evaluated.
    wrong = [] if tier["to_keep"]["qualifying_activity_needed"] else ["the order before the period counted in it"]
    # Another order from before the anniversary upgrades again: still not before the 10th.
    reply = api.event(member, order("o3", "5000", "2026-12-01T00:00:00Z"), program, at=later)
    tier = reply.body["member"]["tier"]
    if (tier["code"], tier["since"], tier["valid_until"]) != (
        "diamond",
        "2027-01-10T00:00:00Z",
        "2028-01-10T00:00:00Z",
    ):
        wrong.append(f"diamond since {tier['since']} until {tier['valid_until']}")
    assert not wrong, wrong


def test_a_second_reversal_with_another_body_is_an_idempotency_conflict(api: Api, member_id: str) -> None:
    """Found by test_model_based: a redemption reversed once, then again with another body
    (a business time before the redemption) was evaluated afresh (422), not refused as a
    conflicting reuse of the reversal's key (409)."""
    at = "2026-11-22T02:00:00Z"
    assert api.event(member_id, order("o1", "100", at)).status == 201
    assert api.redeem(member_id, {"redemption_id": "r1", "points": 10, "occurred_at": at}).status == 201
    path = f"/v1/programs/default/members/{member_id}/redemptions/{member_id}.r1/reversal"
    first = api.call("POST", path, {})
    assert first.status == 201, first.body
    assert api.call("POST", path, {}).status == 200
    again = api.call("POST", path, {"occurred_at": "2026-11-22T01:00:00Z"})
    assert (again.status, again.body["error"]["code"]) == (409, "IDEMPOTENCY_CONFLICT"), again.body
