"""Bad input: 422 naming the field, 404s, 500 without a trace; nothing written on any error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Api, order, table_items

EVENTS = "/v1/programs/default/members/{member}/events"
REDEMPTIONS = "/v1/programs/default/members/{member}/redemptions"

BAD_EVENTS = [
    ("amount as a float", order("e", 199.9), "attributes.settled_amount"),  # type: ignore[arg-type]
    ("amount garbage", order("e", "12,50"), "attributes.settled_amount"),
    ("negative amount", order("e", "-5"), "attributes.settled_amount"),
    ("unknown type", {"event_id": "e", "type": "birthday", "occurred_at": "2026-11-22T00:00:00Z"}, "type"),
    ("missing event_id", {"type": "login", "occurred_at": "2026-11-22T00:00:00Z"}, "event_id"),
    ("event_id over 128", {"event_id": "x" * 129, "type": "login", "occurred_at": "2026-11-22T00:00:00Z"}, "event_id"),
    ("event_id with #", {"event_id": "a#b", "type": "login", "occurred_at": "2026-11-22T00:00:00Z"}, "event_id"),
    ("naive time", {"event_id": "e", "type": "login", "occurred_at": "2026-11-22T00:00:00"}, "occurred_at"),
    ("time as number", {"event_id": "e", "type": "login", "occurred_at": 1700000000}, "occurred_at"),
    ("photo rank float", {"event_id": "e", "type": "photo_review_approved", "occurred_at": "2026-11-22T00:00:00Z",
                          "attributes": {"item_id": "i", "item_price": "30", "rank": 1.0}}, "attributes.rank"),
    ("missing order_id", {"event_id": "e", "type": "order_completed", "occurred_at": "2026-11-22T00:00:00Z",
                          "attributes": {"settled_amount": "1"}}, "attributes.order_id"),
    ("unknown top-level key", {"event_id": "e", "type": "login", "occurred_at": "2026-11-22T00:00:00Z",
                               "points": 50}, "points"),
    ("wrong currency", order("e", "1", currency="USD"), "attributes.currency"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "field"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
def test_bad_event_is_422_naming_the_field(api: Api, dynamo: Any, member_id: str, case: str, body: dict, field: str):
    before = table_items(dynamo, api.table_name)
    reply = api.call("POST", EVENTS.format(member=member_id), body)
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "VALIDATION_ERROR"
    assert field in [d["field"] for d in reply.body["error"]["details"]]
    assert table_items(dynamo, api.table_name) == before


BAD_REDEMPTIONS = [
    ("negative points", {"redemption_id": "r", "points": -10}, "points"),
    ("zero points", {"redemption_id": "r", "points": 0}, "points"),
    ("float points", {"redemption_id": "r", "points": 10.0}, "points"),
    ("string points", {"redemption_id": "r", "points": "10"}, "points"),
    ("missing redemption_id", {"points": 10}, "redemption_id"),
    ("empty redemption_id", {"redemption_id": "", "points": 10}, "redemption_id"),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_REDEMPTIONS, ids=[c[0] for c in BAD_REDEMPTIONS])
def test_bad_redemption_is_422(api: Api, dynamo: Any, member_id: str, case: str, body: dict, field: str) -> None:
    api.event(member_id, order("seed", "100"))
    before = table_items(dynamo, api.table_name)
    reply = api.call("POST", REDEMPTIONS.format(member=member_id), body)
    assert reply.status == 422
    assert field in [d["field"] for d in reply.body["error"]["details"]]
    assert table_items(dynamo, api.table_name) == before


def test_malformed_json_and_oversized_bodies(api: Api, dynamo: Any, member_id: str) -> None:
    before = table_items(dynamo, api.table_name)
    broken = api.call("POST", EVENTS.format(member=member_id), raw=b'{"event_id": "e",')
    assert broken.status == 422
    assert broken.body["error"]["details"][0]["field"] == "body"
    huge = order("e", "1", note="x" * (64 * 1024))
    too_big = api.call("POST", EVENTS.format(member=member_id), raw=json.dumps(huge).encode())
    assert too_big.status == 422
    assert too_big.body["error"]["details"][0]["field"] == "body"
    empty = api.call("POST", EVENTS.format(member=member_id))
    assert empty.status == 422
    assert table_items(dynamo, api.table_name) == before


def test_bad_path_and_query(api: Api, member_id: str) -> None:
    long_id = api.call("GET", f"/v1/programs/default/members/{'m' * 129}")
    assert long_id.status == 422
    assert long_id.body["error"]["details"][0] == {
        "field": "member_id",
        "in": "path",
        "message": long_id.body["error"]["details"][0]["message"],
    }
    for query, field in (
        ("?limit=0", "limit"),
        ("?limit=abc", "limit"),
        ("?limit=101", "limit"),
        ("?cursor=zz", "cursor"),
    ):
        api.event(member_id, order("seed", "1"))
        reply = api.ledger(member_id, query=query)
        assert reply.status == 422, query
        assert reply.body["error"]["details"][0]["field"] == field


def test_unknown_route_is_404_with_envelope(api: Api) -> None:
    reply = api.call("GET", "/v1/nothing/here")
    assert reply.status == 404
    assert reply.body["error"]["code"] == "ROUTE_NOT_FOUND"


def test_internal_error_has_request_id_and_no_trace(api: Api, member_id: str, monkeypatch: Any) -> None:
    from shared import store

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("disk on fire at /secret/path")

    monkeypatch.setattr(store, "load_member_view", broken)
    reply = api.member(member_id)
    assert reply.status == 500
    assert reply.body["error"]["code"] == "INTERNAL"
    assert reply.body["error"]["request_id"]
    assert b"Traceback" not in reply.raw
    assert b"secret" not in reply.raw


def test_json_body_sent_as_a_form_is_read_as_json(api: Api, member_id: str) -> None:
    # curl -d labels its body application/x-www-form-urlencoded; the API speaks JSON only
    reply = api.call(
        "POST",
        EVENTS.format(member=member_id),
        order(f"{member_id}.form", "5"),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 201
