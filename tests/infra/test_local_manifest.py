"""The local manifest is the synthesized template, reduced to plain data."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from infra.local_manifest import manifest_from_template, synth_manifest

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return synth_manifest("dev")


def test_is_plain_json_data(manifest: dict[str, Any]) -> None:
    assert json.loads(json.dumps(manifest)) == manifest
    assert manifest["stack"] == "Loyalty-dev"


def test_tables_match_the_template(manifest: dict[str, Any], dev: Synth) -> None:
    expected = [
        {
            "logical_id": logical_id,
            "key_schema": table["Properties"]["KeySchema"],
            "attribute_definitions": table["Properties"]["AttributeDefinitions"],
            "global_secondary_indexes": table["Properties"]["GlobalSecondaryIndexes"],
            "time_to_live_attribute": table["Properties"]["TimeToLiveSpecification"]["AttributeName"],
        }
        for logical_id, table in dev.of_type("AWS::DynamoDB::Table").items()
    ]
    assert manifest["tables"] == expected


def test_routes_match_the_template(manifest: dict[str, Any], dev: Synth) -> None:
    integrations = dev.of_type("AWS::ApiGatewayV2::Integration")
    expected = set()
    for route in dev.of_type("AWS::ApiGatewayV2::Route").values():
        integration = integrations[route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]]
        method, path = route["Properties"]["RouteKey"].split(" ")
        props = route["Properties"]
        expected.add(
            (
                method,
                path,
                integration["Properties"]["IntegrationUri"]["Fn::GetAtt"][0],
                props["AuthorizationType"],
                props["AuthorizerId"]["Ref"] if "AuthorizerId" in props else None,
                tuple(props.get("AuthorizationScopes", ())),
            )
        )
    routes = {
        (r["method"], r["path"], r["function"], r["authorization"], r["authorizer"], tuple(r["scopes"]))
        for r in manifest["routes"]
    }
    assert len(manifest["routes"]) == len(routes) == 8
    assert routes == expected


def test_authorizer_and_clients_resolve_to_local_client_ids(manifest: dict[str, Any], dev: Synth) -> None:
    # Locally an app client's id is its logical id: the audience and the client mapping name them.
    (authorizer_id,) = dev.of_type("AWS::ApiGatewayV2::Authorizer")
    assert manifest["authorizers"] == {
        authorizer_id: {
            "type": "JWT",
            "identity_source": ["$request.header.Authorization"],
            "audience": ["MembersAppClient", "BackendSystemsClient", "OperatorsClient"],
            "issuer": None,  # the Cognito issuer URL is known once deployed; locally the gateway's own
        }
    }
    assert manifest["clients"] == {
        "MembersAppClient": {"scopes": ["loyalty/member", "openid"], "flows": ["code"]},
        "BackendSystemsClient": {
            "scopes": ["loyalty/events.write", "loyalty/redemptions.write", "loyalty/members.read"],
            "flows": ["client_credentials"],
        },
        "OperatorsClient": {"scopes": ["loyalty/admin"], "flows": ["client_credentials"]},
    }
    for fn in manifest["functions"].values():
        if fn["name"] != "health" and not fn["name"].endswith("_job"):  # jobs have no caller
            assert fn["environment"]["AUTH_CLIENT_PROGRAMS"] == "BackendSystemsClient=* OperatorsClient=*"


def test_functions_match_the_template(manifest: dict[str, Any], dev: Synth) -> None:
    (table_id,) = dev.of_type("AWS::DynamoDB::Table")
    functions = dev.of_type("AWS::Lambda::Function")
    assert set(manifest["functions"]) == set(functions)
    for logical_id, fn in manifest["functions"].items():
        props = functions[logical_id]["Properties"]
        assert fn["handler"] == props["Handler"] == f"functions.{fn['name']}.handler.handler"
        assert (fn["timeout"], fn["memory"]) == ((900 if fn["name"].endswith("_job") else 10), 512)
        if fn["name"] != "health":
            assert fn["environment"]["TABLE_NAME"] == {"table": table_id}
        assert fn["environment"]["STAGE"] == "dev"
    assert {fn["name"] for fn in manifest["functions"].values()} == {
        "earn",
        "redeem",
        "member_reads",
        "program_admin",
        "tier_job",
        "expiry_job",
        "health",
    }


def test_buses_and_schedules_match_the_template(manifest: dict[str, Any], dev: Synth) -> None:
    (bus_id, bus) = next(iter(dev.of_type("AWS::Events::EventBus").items()))
    assert manifest["buses"] == {bus_id: bus["Properties"]["Name"]} == {bus_id: "loyalty-dev"}
    schedules = dev.of_type("AWS::Scheduler::Schedule")
    assert len(manifest["schedules"]) == len(schedules) == 2
    jobs = set()
    for schedule in manifest["schedules"]:
        props = schedules[schedule["logical_id"]]["Properties"]
        assert schedule["expression"] == props["ScheduleExpression"]
        assert schedule["time_zone"] == props["ScheduleExpressionTimezone"] == "Etc/UTC"  # hourly, every program
        assert schedule["input"] == json.loads(props["Target"]["Input"])
        job = manifest["functions"][schedule["function"]]
        assert job["name"] == f"{schedule['input']['detail']['job']}_job"
        assert job["environment"]["EVENT_BUS_NAME"] == {"bus": bus_id}
        jobs.add(job["name"])
    assert jobs == {"tier_job", "expiry_job"}


def test_an_environment_value_local_cannot_resolve_is_an_error() -> None:
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "functions.earn.handler.handler",
                    "Timeout": 10,
                    "MemorySize": 512,
                    "Environment": {"Variables": {"QUEUE_URL": {"Ref": "SomeQueue"}}},
                },
            }
        }
    }
    with pytest.raises(ValueError, match="QUEUE_URL"):
        manifest_from_template("Loyalty-dev", template)
