"""Tables, buses, functions, routes, authorizer and schedules of a stage, read from its synthesized template.

The local gateway and the local tables are built from this, so local and deployed
cannot drift. Run ``python -m infra.local_manifest [stage]`` to print it as JSON.

Locally, the id of a Cognito app client the stack creates is its logical id (the stack fixes
them: ``BackendSystemsClient``...): a ``Ref`` to one resolves to that name, so the function
settings and the authorizer's audience mean the same clients locally as in AWS.
"""

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra.app import build_app
from infra.constants import DEFAULT_STAGE, stack_name

Template = dict[str, Any]


def synth_manifest(stage: str = DEFAULT_STAGE) -> dict[str, Any]:
    """Synthesize ``Loyalty-<stage>`` in-process and return its local manifest (plain data)."""
    name = stack_name(stage)
    with tempfile.TemporaryDirectory(prefix="loyalty-manifest-") as outdir:
        app = build_app(stage, outdir, template_only=True)
        artifact = app.synth().get_stack_by_name(name)
        template = json.loads(Path(artifact.template_full_path).read_text(encoding="utf-8"))
    return manifest_from_template(name, template)


def manifest_from_template(stack: str, template: Template) -> dict[str, Any]:
    """The manifest of one synthesized template: tables, functions by logical id, routes."""
    tables = _resources(template, "AWS::DynamoDB::Table")
    clients = _resources(template, "AWS::Cognito::UserPoolClient")
    buses = _resources(template, "AWS::Events::EventBus")
    return {
        "stack": stack,
        "tables": [_table(logical_id, props) for logical_id, props in tables.items()],
        "buses": {logical_id: props["Name"] for logical_id, props in buses.items()},
        "functions": {
            logical_id: _function(props, table_ids=set(tables), client_ids=set(clients), bus_ids=set(buses))
            for logical_id, props in _resources(template, "AWS::Lambda::Function").items()
        },
        "routes": _routes(template),
        "schedules": _schedules(template),
        "authorizers": {
            logical_id: _authorizer(props, client_ids=set(clients))
            for logical_id, props in _resources(template, "AWS::ApiGatewayV2::Authorizer").items()
        },
        "clients": {
            logical_id: {
                "scopes": props.get("AllowedOAuthScopes", []),
                "flows": props.get("AllowedOAuthFlows", []),
            }
            for logical_id, props in clients.items()
        },
    }


def _resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def _table(logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "logical_id": logical_id,
        "key_schema": props["KeySchema"],
        "attribute_definitions": props["AttributeDefinitions"],
        "global_secondary_indexes": [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            for index in props.get("GlobalSecondaryIndexes", [])
        ],
        "time_to_live_attribute": (
            props["TimeToLiveSpecification"]["AttributeName"]
            if props.get("TimeToLiveSpecification", {}).get("Enabled")
            else None
        ),
    }


def _function(props: dict[str, Any], table_ids: set[str], client_ids: set[str], bus_ids: set[str]) -> dict[str, Any]:
    handler: str = props["Handler"]
    variables = props.get("Environment", {}).get("Variables", {})
    return {
        "name": handler.split(".")[1],  # functions.<name>.handler.handler
        "handler": handler,
        "environment": {
            key: _env_value(key, value, table_ids, client_ids, bus_ids) for key, value in variables.items()
        },
        "timeout": props["Timeout"],
        "memory": props["MemorySize"],
    }


def _local_text(key: str, value: Any, client_ids: set[str]) -> str:
    """A string, a Ref to one of the stack's app clients, or an ``Fn::Join`` of those, as a local string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("Ref") in client_ids:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(_local_text(key, part, client_ids) for part in parts)
    # Anything else cannot be resolved locally; fail loudly rather than run with a wrong value.
    raise ValueError(f"{key}: unsupported value {value!r}")


def _env_value(
    key: str, value: Any, table_ids: set[str], client_ids: set[str], bus_ids: set[str]
) -> str | dict[str, str]:
    if isinstance(value, dict) and value.get("Ref") in table_ids:
        return {"table": value["Ref"]}
    if isinstance(value, dict) and value.get("Ref") in bus_ids:
        return {"bus": value["Ref"]}
    return _local_text(f"environment variable {key}", value, client_ids)


def _authorizer(props: dict[str, Any], client_ids: set[str]) -> dict[str, Any]:
    jwt = props.get("JwtConfiguration", {})
    issuer = jwt.get("Issuer")
    return {
        "type": props["AuthorizerType"],
        "identity_source": props.get("IdentitySource", []),
        "audience": [_local_text("authorizer audience", a, client_ids) for a in jwt.get("Audience", [])],
        # A Cognito pool's issuer URL names its region and id: known only once deployed.
        "issuer": issuer if isinstance(issuer, str) else None,
    }


def _routes(template: Template) -> list[dict[str, Any]]:
    integrations = _resources(template, "AWS::ApiGatewayV2::Integration")
    routes = []
    for props in _resources(template, "AWS::ApiGatewayV2::Route").values():
        method, path = props["RouteKey"].split(" ", 1)
        # Target is {"Fn::Join": ["", ["integrations/", {"Ref": <integration>}]]}.
        integration_id = props["Target"]["Fn::Join"][1][1]["Ref"]
        function_id = integrations[integration_id]["IntegrationUri"]["Fn::GetAtt"][0]
        routes.append(
            {
                "method": method,
                "path": path,
                "function": function_id,
                "authorization": props.get("AuthorizationType", "NONE"),
                "authorizer": props["AuthorizerId"]["Ref"] if "AuthorizerId" in props else None,
                "scopes": props.get("AuthorizationScopes", []),
            }
        )
    return routes


def _schedules(template: Template) -> list[dict[str, Any]]:
    """Each schedule: its cron, time zone, target function (logical id) and input template."""
    schedules = []
    for logical_id, props in _resources(template, "AWS::Scheduler::Schedule").items():
        target = props["Target"]
        schedules.append(
            {
                "logical_id": logical_id,
                "expression": props["ScheduleExpression"],
                "time_zone": props.get("ScheduleExpressionTimezone", "UTC"),
                "function": target["Arn"]["Fn::GetAtt"][0],
                "input": json.loads(target["Input"]),
            }
        )
    return schedules


def main(argv: list[str]) -> None:
    """Print the manifest of the stage named in ``argv`` (default dev) as JSON."""
    stage = argv[0] if argv else DEFAULT_STAGE
    print(json.dumps(synth_manifest(stage), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
