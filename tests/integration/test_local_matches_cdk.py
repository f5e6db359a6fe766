"""Local and deployed cannot drift: sample events, the OpenAPI document and the gateway all
agree with the routes and tables of the synthesized CDK app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.engine import LambdaContext, local_table_names
from local.openapi import DOCUMENT, render
from tests.integration.conftest import Api

EVENTS = Path(__file__).resolve().parents[2] / "events"

# Sample events, in the order a session would send them, with the status each must get.
SAMPLES = [
    ("program_get", 200),
    ("program_put", 201),
    ("earn_order_completed", 201),
    ("earn_login", 201),
    ("earn_review_approved", 201),
    ("earn_photo_review_approved", 201),
    ("earn_kol_order", 201),
    ("earn_invalid_amount", 422),
    ("redeem_points", 201),
    ("redeem_reversal", 201),
    ("earn_order_refunded", 201),
    ("member_snapshot", 200),
    ("member_ledger", 200),
    ("member_snapshot_other_member", 403),  # alice's token on bob's snapshot
    ("health", 200),
]


def _function_for(api: Api, route_key: str) -> str:
    method, path = route_key.split(" ", 1)
    return next(r.function_id for r in api.routes if r.method == method and r.path == path)


# Scheduled-event samples: the schedule's input from the template, with a scheduled time.
JOB_SAMPLES = {"tier_job_scheduled": "tier", "expiry_job_scheduled": "expiry"}


def test_every_route_and_schedule_has_a_sample_event() -> None:
    assert sorted(p.stem for p in EVENTS.glob("*.json")) == sorted([*(name for name, _ in SAMPLES), *JOB_SAMPLES])


def test_job_samples_are_their_schedules_input_and_run(api: Api) -> None:
    from local.job import SCHEDULED_TIME, run_job

    for name, job in JOB_SAMPLES.items():
        sample = json.loads((EVENTS / f"{name}.json").read_text())
        (schedule,) = [s for s in api.manifest["schedules"] if s["input"]["detail"]["job"] == job]
        assert schedule["input"]["time"] == SCHEDULED_TIME
        assert {**sample, "time": SCHEDULED_TIME} == schedule["input"]
        reports = run_job(api.handlers[schedule["function"]], sample, lambda: LambdaContext("job", timeout_s=900))
        # the schedule's event dispatches: then each program in its hour at that time runs (default, at least)
        dispatch, *runs = reports
        assert (dispatch["dispatch"], dispatch["status"]) == (True, "done")
        assert "default" in [r["program_id"] for r in runs]
        assert {r["status"] for r in runs} == {"done"}


def test_sample_events_run_through_their_functions(api: Api) -> None:
    routes_seen = set()
    for name, expected in SAMPLES:
        event = json.loads((EVENTS / f"{name}.json").read_text())
        function_id = _function_for(api, event["routeKey"])
        routes_seen.add(event["routeKey"])
        result = api.handlers[function_id](event, LambdaContext(name))
        assert result["statusCode"] == expected, (name, result["body"])
    assert routes_seen == {f"{r.method} {r.path}" for r in api.routes}


def test_openapi_document_is_current_and_covers_every_route(api: Api) -> None:
    assert DOCUMENT.read_text() == render(), "openapi.json is stale: run `make openapi`"
    document = json.loads(DOCUMENT.read_text())
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == {(r.method, r.path) for r in api.routes}


def test_gateway_routes_carry_the_template_authorization(api: Api) -> None:
    # The local gateway checks the scopes the template gives each route, and they are the
    # scopes the functions check (shared.auth): one rule, three places, no drift.
    from shared.auth import PUBLIC_ROUTES, ROUTE_SCOPES

    by_key = {f"{r['method']} {r['path']}": r for r in api.manifest["routes"]}
    for route in api.routes:
        key = f"{route.method} {route.path}"
        assert (route.authorization, list(route.scopes)) == (by_key[key]["authorization"], by_key[key]["scopes"])
        if key in PUBLIC_ROUTES:
            assert (route.authorization, route.scopes) == ("NONE", ())
        else:
            assert (route.authorization, route.scopes) == ("JWT", ROUTE_SCOPES[key])
    assert {f"{r.method} {r.path}" for r in api.routes} == set(ROUTE_SCOPES) | PUBLIC_ROUTES


def test_local_tables_have_the_template_keys_and_indexes(api: Api, dynamo: Any) -> None:
    for table in api.manifest["tables"]:
        name = local_table_names(api.manifest)[table["logical_id"]]
        described = dynamo.describe_table(TableName=name)["Table"]
        assert described["KeySchema"] == table["key_schema"]
        assert {i["IndexName"]: i["KeySchema"] for i in described.get("GlobalSecondaryIndexes", [])} == {
            i["IndexName"]: i["KeySchema"] for i in table["global_secondary_indexes"]
        }
        ttl = dynamo.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == table["time_to_live_attribute"] == "ttl"


def test_handlers_read_the_table_the_template_gives_them(api: Api) -> None:
    from shared.models import LedgerItem, MemberItem

    assert MemberItem.Meta.table_name == LedgerItem.Meta.table_name == api.table_name


def test_openapi_says_who_may_call_each_operation() -> None:
    from shared.auth import PUBLIC_ROUTES, ROUTE_SCOPES

    document = json.loads(DOCUMENT.read_text())
    assert document["components"]["securitySchemes"]["loyalty"]["type"] == "oauth2"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            key = f"{method.upper()} {path}"
            if key in PUBLIC_ROUTES:
                assert operation["security"] == [], key
            else:
                assert operation["security"] == [{"loyalty": list(ROUTE_SCOPES[key])}], key
