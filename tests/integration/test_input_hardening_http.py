"""Input hardening through the HTTP API on DynamoDB Local: bad input is a 422 naming the field,
with nothing written (the table compared item for item), never a 500."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from local.engine import DEFAULT_PROGRAM_FILE
from shared.program import MAX_MEMBER_ATTRIBUTES
from tests.integration.conftest import Api, Reply, order, table_items

DEFAULT = json.loads(DEFAULT_PROGRAM_FILE.read_text())


def login(event_id: str, member_attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": event_id, "type": "login", "occurred_at": "2026-11-22T02:00:00Z"}
    if member_attributes is not None:
        body["member_attributes"] = member_attributes
    return body


def refused_unchanged(api: Api, dynamo: Any, send: Any) -> Reply:
    """``send()``'s reply, asserting it is a 422 and the table did not change."""
    before = table_items(dynamo, api.table_name)
    reply = send()
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "VALIDATION_ERROR"
    assert table_items(dynamo, api.table_name) == before
    return reply


def fields(reply: Reply) -> list[str]:
    return [d["field"] for d in reply.body["error"]["details"]]


def test_member_attributes_are_removed_with_null_and_capped(api: Api, dynamo: Any, member_id: str) -> None:
    # Given a KOL member (orders earn growth x 1.5) with another attribute
    first = api.event(member_id, {**order("o1", "100.00"), "member_attributes": {"account_type": "kol", "x": "1"}})
    assert (first.status, first.body["growth_earned"]) == (201, 150)

    # When an event sends null for both / Then they are gone and growth is x 1 again
    removed = api.event(member_id, {**order("o2", "100.00"), "member_attributes": {"account_type": None, "x": None}})
    assert (removed.status, removed.body["growth_earned"]) == (201, 100)
    assert api.member(member_id).body["attributes"] == {}

    # Given a member filled up to the cap, 20 names per event
    for batch in range(0, MAX_MEMBER_ATTRIBUTES, 20):
        size = min(20, MAX_MEMBER_ATTRIBUTES - batch)
        names = {f"a{batch + i}": "v" for i in range(size)}
        assert api.event(member_id, login(f"fill-{batch}", names)).status == 201
    assert len(api.member(member_id).body["attributes"]) == MAX_MEMBER_ATTRIBUTES

    # When an order would add one more name / Then a 422 naming member_attributes, nothing written
    grow = {**order("o3", "100.00"), "member_attributes": {"one_more": "v"}}
    refused = refused_unchanged(api, dynamo, lambda: api.event(member_id, grow))
    assert fields(refused) == ["member_attributes"]

    # A name swapped for another is fine, and so is the same order without the new name
    swapped = api.event(member_id, {**order("o3", "100.00"), "member_attributes": {"a0": None, "one_more": "v"}})
    assert swapped.status == 201
    attributes = api.member(member_id).body["attributes"]
    assert len(attributes) == MAX_MEMBER_ATTRIBUTES
    assert "one_more" in attributes
    assert "a0" not in attributes


def test_a_lone_surrogate_or_control_character_is_a_422(api: Api, dynamo: Any, member_id: str) -> None:
    path = f"/v1/programs/default/members/{member_id}/events"
    as_key = json.dumps(login(f"{member_id}.s1")).replace("}", ', "member_attributes": {"\\ud800": "x"}}')
    reply = refused_unchanged(api, dynamo, lambda: api.call("POST", path, raw=as_key.encode()))
    assert all(f.startswith("member_attributes.") for f in fields(reply))
    as_value = json.dumps(login(f"{member_id}.s2")).replace("}", ', "member_attributes": {"k": "\\ud800"}}')
    reply = refused_unchanged(api, dynamo, lambda: api.call("POST", path, raw=as_value.encode()))
    assert fields(reply) == ["member_attributes.k"]
    control = login("s3", {"k": "a\u0000b"})
    assert fields(refused_unchanged(api, dynamo, lambda: api.event(member_id, control))) == ["member_attributes.k"]


def test_a_unix_time_is_not_a_timestamp(api: Api, dynamo: Any, member_id: str) -> None:
    for text in ("20261122", "1700000000000", "0", "1.5"):
        reply = refused_unchanged(api, dynamo, lambda text=text: api.event(member_id, order("t", "1.00", at=text)))
        assert fields(reply) == ["occurred_at"]


def test_the_issues_unbounded_config_is_refused(api: Api, dynamo: Any) -> None:
    config = copy.deepcopy(DEFAULT)
    config["earning_rules"][0]["points_per_unit"] = "987654321987.654321"
    config["tiers"][4]["points_multiplier"] = "999999999999.999999"
    program = f"p-{uuid.uuid4().hex[:8]}"
    reply = refused_unchanged(api, dynamo, lambda: api.call("PUT", f"/v1/programs/{program}", config))
    assert sorted(fields(reply)) == ["earning_rules.0.points_per_unit", "tiers.4.points_multiplier"]
