"""The HTTP API: the contract's routes, each to the right function, on a throttled, logged stage."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Match

from infra.constants import STAGES

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

# The HTTP contract (DESIGN.md), written out here on purpose: the test must not read infra.routes.
CONTRACT = {
    ("GET", "/v1/programs/{program_id}"): "program_admin",
    ("PUT", "/v1/programs/{program_id}"): "program_admin",
    ("POST", "/v1/programs/{program_id}/members/{member_id}/events"): "earn",
    ("POST", "/v1/programs/{program_id}/members/{member_id}/redemptions"): "redeem",
    ("POST", "/v1/programs/{program_id}/members/{member_id}/redemptions/{redemption_id}/reversal"): "redeem",
    ("GET", "/v1/programs/{program_id}/members/{member_id}"): "member_reads",
    ("GET", "/v1/programs/{program_id}/members/{member_id}/ledger"): "member_reads",
    ("GET", "/health"): "health",
}
# Who may call each route (issue 6), written out here too: any one scope opens the route.
SCOPES = {
    ("GET", "/v1/programs/{program_id}"): ["loyalty/admin"],
    ("PUT", "/v1/programs/{program_id}"): ["loyalty/admin"],
    ("POST", "/v1/programs/{program_id}/members/{member_id}/events"): ["loyalty/events.write"],
    ("POST", "/v1/programs/{program_id}/members/{member_id}/redemptions"): [
        "loyalty/redemptions.write",
        "loyalty/member",
    ],
    # back ends only: a member never gives itself points back
    ("POST", "/v1/programs/{program_id}/members/{member_id}/redemptions/{redemption_id}/reversal"): [
        "loyalty/redemptions.write"
    ],
    ("GET", "/v1/programs/{program_id}/members/{member_id}"): [
        "loyalty/members.read",
        "loyalty/admin",
        "loyalty/member",
    ],
    ("GET", "/v1/programs/{program_id}/members/{member_id}/ledger"): [
        "loyalty/members.read",
        "loyalty/admin",
        "loyalty/member",
    ],
}


def _route_targets(synth: Synth) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) -> the integration resource each route targets."""
    integrations = synth.of_type("AWS::ApiGatewayV2::Integration")
    targets = {}
    for route in synth.of_type("AWS::ApiGatewayV2::Route").values():
        method, path = route["Properties"]["RouteKey"].split(" ", 1)
        join = route["Properties"]["Target"]["Fn::Join"]
        assert join[1][0] == "integrations/"
        targets[(method, path)] = integrations[join[1][1]["Ref"]]["Properties"]
    return targets


def test_routes_are_exactly_the_contract(dev: Synth) -> None:
    # Given the dev stack / When reading its routes / Then they are the contract, no more, no less
    assert set(_route_targets(dev)) == set(CONTRACT)


def test_each_route_proxies_to_its_function_with_payload_v2(dev: Synth) -> None:
    functions = dev.of_type("AWS::Lambda::Function")
    for key, integration in _route_targets(dev).items():
        function_id = integration["IntegrationUri"]["Fn::GetAtt"][0]
        handler = functions[function_id]["Properties"]["Handler"]
        assert handler == f"functions.{CONTRACT[key]}.handler.handler", key
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"


def test_api_gateway_may_invoke_each_routed_function(dev: Synth) -> None:
    permissions = dev.of_type("AWS::Lambda::Permission").values()
    invokable = {p["Properties"]["FunctionName"]["Fn::GetAtt"][0] for p in permissions}
    routed = {i["IntegrationUri"]["Fn::GetAtt"][0] for i in _route_targets(dev).values()}
    assert routed == invokable
    assert all(p["Properties"]["Principal"] == "apigateway.amazonaws.com" for p in permissions)


def _routes(synth: Synth) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        tuple(route["Properties"]["RouteKey"].split(" ", 1)): route["Properties"]  # type: ignore[misc]
        for route in synth.of_type("AWS::ApiGatewayV2::Route").values()
    }


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_route_but_health_has_the_jwt_authorizer_and_its_scopes(
    synth: Callable[[str], Synth], stage: str
) -> None:
    template = synth(stage)
    (authorizer_id,) = template.of_type("AWS::ApiGatewayV2::Authorizer")
    routes = _routes(template)
    for key, route in routes.items():
        if key == ("GET", "/health"):
            assert route["AuthorizationType"] == "NONE" and "AuthorizerId" not in route
            continue
        assert route["AuthorizationType"] == "JWT", key
        assert route["AuthorizerId"] == {"Ref": authorizer_id}, key
        assert route["AuthorizationScopes"] == SCOPES[key], key
    assert set(routes) - {("GET", "/health")} == set(SCOPES)


def test_route_scopes_are_the_ones_the_functions_check(dev: Synth) -> None:
    from shared.auth import ROUTE_SCOPES

    assert {key: list(scopes) for key, scopes in ROUTE_SCOPES.items()} == {
        f"{method} {path}": scopes for (method, path), scopes in SCOPES.items()
    }


def test_the_authorizer_reads_the_bearer_token_of_the_stack_issuer(dev: Synth) -> None:
    (authorizer,) = dev.of_type("AWS::ApiGatewayV2::Authorizer").values()
    props = authorizer["Properties"]
    (pool_id,) = dev.of_type("AWS::Cognito::UserPool")
    assert props["AuthorizerType"] == "JWT"
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    assert props["JwtConfiguration"]["Issuer"] == {
        "Fn::Join": ["", ["https://cognito-idp.", {"Ref": "AWS::Region"}, ".amazonaws.com/", {"Ref": pool_id}]]
    }
    clients = dev.of_type("AWS::Cognito::UserPoolClient")
    assert sorted(a["Ref"] for a in props["JwtConfiguration"]["Audience"]) == sorted(clients)


def test_the_health_function_has_no_table_access(dev: Synth) -> None:
    functions = dev.of_type("AWS::Lambda::Function")
    (health,) = [f for f in functions.values() if f["Properties"]["Handler"] == "functions.health.handler.handler"]
    role = dev.resources[health["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
    assert [p["PolicyName"] for p in role["Policies"]] == ["Logs"]
    assert "TABLE_NAME" not in health["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_default_stage_is_throttled_per_stage(synth: Callable[[str], Synth], stage: str) -> None:
    settings = STAGES[stage]
    synth(stage).template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {
                "ThrottlingRateLimit": settings.throttle_rate_limit,
                "ThrottlingBurstLimit": settings.throttle_burst_limit,
            },
        },
    )


def test_access_logs_go_to_a_log_group_as_json(dev: Synth) -> None:
    (stage,) = dev.of_type("AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]
    log_group_id = settings["DestinationArn"]["Fn::GetAtt"][0]
    assert dev.resources[log_group_id]["Type"] == "AWS::Logs::LogGroup"
    assert dev.resources[log_group_id]["Properties"]["RetentionInDays"] > 0
    assert json.loads(settings["Format"])["requestId"] == "$context.requestId"
    # Why the authorizer refused a request, without the token
    assert json.loads(settings["Format"])["authorizerError"] == "$context.authorizer.error"


def test_one_http_api_with_payload_v2_only(dev: Synth) -> None:
    dev.template.resource_count_is("AWS::ApiGatewayV2::Api", 1)
    dev.template.has_resource_properties("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP", "Name": "Loyalty-dev"})
    dev.template.all_resources_properties(
        "AWS::ApiGatewayV2::Integration", {"PayloadFormatVersion": "2.0", "IntegrationType": "AWS_PROXY"}
    )
    dev.template.resource_properties_count_is(
        "AWS::ApiGatewayV2::Route", {"AuthorizerId": Match.any_value()}, len(CONTRACT) - 1
    )
