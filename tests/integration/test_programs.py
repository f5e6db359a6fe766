"""Program config: GET/PUT, validation naming the field, versions, idempotent PUT, If-Match."""

from __future__ import annotations

import copy
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.engine import DEFAULT_PROGRAM_FILE
from tests.integration.conftest import Api, order, table_items

DEFAULT = json.loads(DEFAULT_PROGRAM_FILE.read_text())


def test_default_program_is_loaded(api: Api) -> None:
    reply = api.call("GET", "/v1/programs/default")
    assert reply.status == 200
    assert reply.body["config"]["time_zone"] == "Asia/Shanghai"
    assert [t["min_growth"] for t in reply.body["config"]["tiers"]] == [0, 1, 2000, 10000, 30000]


def test_put_creates_then_versions(api: Api) -> None:
    program = f"p-{uuid.uuid4().hex[:8]}"
    created = api.call("PUT", f"/v1/programs/{program}", DEFAULT)
    assert (created.status, created.body["version"]) == (201, 1)
    # The same document again writes nothing
    same = api.call("PUT", f"/v1/programs/{program}", DEFAULT)
    assert (same.status, same.body["version"]) == (200, 1)
    changed = copy.deepcopy(DEFAULT)
    changed["earning_rules"][1]["growth"] = 7
    second = api.call("PUT", f"/v1/programs/{program}", changed)
    assert (second.status, second.body["version"]) == (200, 2)
    # Writes use the version current when they began, and record it
    earned = api.event("m1", {"event_id": "l", "type": "login", "occurred_at": "2026-11-22T00:00:00Z"}, program=program)
    assert (earned.body["growth_earned"], earned.body["config_version"]) == (7, 2)


def test_if_match_guards_against_lost_updates(api: Api) -> None:
    program = f"p-{uuid.uuid4().hex[:8]}"
    api.call("PUT", f"/v1/programs/{program}", DEFAULT)
    changed = copy.deepcopy(DEFAULT)
    changed["name"] = "renamed"
    stale = api.call("PUT", f"/v1/programs/{program}", changed, headers={"If-Match": '"7"'})
    assert (stale.status, stale.body["error"]["code"]) == (409, "VERSION_CONFLICT")
    fresh = api.call("PUT", f"/v1/programs/{program}", changed, headers={"If-Match": '"1"'})
    assert (fresh.status, fresh.body["version"]) == (200, 2)


def _invalid(api: Api, dynamo: Any, mutate: Any) -> dict:
    body = copy.deepcopy(DEFAULT)
    mutate(body)
    before = table_items(dynamo, api.table_name)
    reply = api.call("PUT", "/v1/programs/default", body)
    assert reply.status == 422, reply.body
    assert table_items(dynamo, api.table_name) == before
    return reply.body["error"]


def test_put_validation_names_the_field(api: Api, dynamo: Any) -> None:
    def tiers_out_of_order(c: dict) -> None:
        c["tiers"][3]["min_growth"] = 100

    def negative_rate(c: dict) -> None:
        c["earning_rules"][0]["points_per_unit"] = "-1"

    def unknown_event(c: dict) -> None:
        c["earning_rules"][1]["event_type"] = "birthday"

    def bad_zone(c: dict) -> None:
        c["time_zone"] = "Mars/Olympus"

    assert _invalid(api, dynamo, tiers_out_of_order)["details"][0]["field"] == "tiers"
    assert _invalid(api, dynamo, negative_rate)["details"][0]["field"] == "earning_rules.0.points_per_unit"
    assert _invalid(api, dynamo, unknown_event)["details"][0]["field"] == "earning_rules.1.event_type"
    assert _invalid(api, dynamo, bad_zone)["details"][0]["field"] == "time_zone"


def test_get_unknown_program_is_404(api: Api) -> None:
    reply = api.call("GET", "/v1/programs/nope")
    assert (reply.status, reply.body["error"]["code"]) == (404, "PROGRAM_NOT_FOUND")


def test_order_with_program_currency_is_accepted(api: Api, member_id: str) -> None:
    assert api.event(member_id, order("c", "1", currency="CNY")).status == 201


def test_concurrent_puts_lose_no_version(api: Api, dynamo: Any) -> None:
    from shared import logic
    from shared.program import ProgramConfig
    from tests.integration.conftest import NOW, direct

    program = f"p-{uuid.uuid4().hex[:8]}"
    configs = []
    for i in range(12):
        body = copy.deepcopy(DEFAULT)
        body["name"] = f"variant {i}"
        configs.append(ProgramConfig.model_validate(body))

    # When eight admins replace the config at once, without If-Match (last writer wins)
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda c: direct(logic.replace_program_config, program, c, NOW), configs[:8]))

    # Then every write became its own version, and the current one is the last
    versions = sorted(body["version"] for _, body in replies)
    assert versions == list(range(1, 9))
    current = api.call("GET", f"/v1/programs/{program}").body
    assert current["version"] == 8
    history = dynamo.query(
        TableName=api.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
        ExpressionAttributeValues={":pk": {"S": f"PROGRAM#{program}"}, ":v": {"S": "CONFIG#"}},
        ConsistentRead=True,
    )["Items"]
    assert len(history) == 8

    # With If-Match on the same version, exactly one of four new documents wins
    with ThreadPoolExecutor(max_workers=4) as pool:
        guarded = list(pool.map(lambda c: direct(logic.replace_program_config, program, c, NOW, 8), configs[8:]))
    statuses = sorted(status for status, _ in guarded)
    assert statuses == [200, 409, 409, 409]
