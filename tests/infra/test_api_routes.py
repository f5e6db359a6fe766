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
    ("GET", "/v1/programs/{program_id}/members/{member_id}"): "member_reads",
    ("GET", "/v1/programs/{program_id}/members/{member_id}/ledger"): "member_reads",
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


def test_routes_have_no_authorizer_yet(dev: Synth) -> None:
    # Authorizers come with issue 6; until then every route is open (and acknowledged in cdk-nag).
    dev.template.all_resources_properties("AWS::ApiGatewayV2::Route", {"AuthorizationType": "NONE"})


@pytest.mark.parametrize("stage", ["dev", "prod"])
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


def test_one_http_api_with_payload_v2_only(dev: Synth) -> None:
    dev.template.resource_count_is("AWS::ApiGatewayV2::Api", 1)
    dev.template.has_resource_properties("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP", "Name": "Loyalty-dev"})
    dev.template.all_resources_properties(
        "AWS::ApiGatewayV2::Integration", {"PayloadFormatVersion": "2.0", "IntegrationType": "AWS_PROXY"}
    )
    dev.template.resource_properties_count_is("AWS::ApiGatewayV2::Route", {"AuthorizerId": Match.any_value()}, 0)
