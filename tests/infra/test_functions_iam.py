"""Each function's settings, and its own least-privilege role scoped to the ledger table.

Least privilege, checked for every role of the stack: no wildcard action, DynamoDB actions only
on the function's own table (and its indexes), a ``*`` resource only for X-Ray (which has no
resource-level permissions), and no secret in any environment or output."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

WRITE = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
}
TABLE_ACTIONS = {
    "earn": WRITE,
    "redeem": WRITE,
    "member_reads": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"},
    "program_admin": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"},
    # reads members, writes ledger + member + outbox; queries and deletes only where JOB_CONDITIONAL says
    "tier_job": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"},
    "expiry_job": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"},
    "health": set(),
}
INDEX_ACTIONS = {"tier_job": {("tier_due", "dynamodb:Query")}, "expiry_job": {("expiry_due", "dynamodb:Query")}}
"""Index-level grants: only the jobs query an index, each only its own."""
OUTBOX_DELETE = {
    "Action": "dynamodb:BatchWriteItem",
    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PROGRAM#*#OUTBOX#*"]}},
    "Effect": "Allow",
}
"""Jobs delete published outbox events, and may batch-write nothing else."""
JOB_QUERY = {
    "Action": "dynamodb:Query",
    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PROGRAM#*#OUTBOX#*", "PROGRAMS"]}},
    "Effect": "Allow",
}
"""Jobs query their outboxes (to drain them) and the program registry (to dispatch), nothing else."""
JOB_CONDITIONAL = (OUTBOX_DELETE, JOB_QUERY)
JOBS = {"tier_job", "expiry_job"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _functions(synth: Synth) -> dict[str, dict[str, Any]]:
    """Short function name (from the handler) -> function properties."""
    by_name = {}
    for fn in synth.of_type("AWS::Lambda::Function").values():
        by_name[fn["Properties"]["Handler"].split(".")[1]] = fn["Properties"]
    assert set(by_name) == set(TABLE_ACTIONS)
    return by_name


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    """Every statement granted to a role: its inline policies and AWS::IAM::Policy resources."""
    role = synth.resources[role_id]["Properties"]
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    documents += [
        p["Properties"]["PolicyDocument"]
        for p in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    return [statement for document in documents for statement in document["Statement"]]


def _table_arn(synth: Synth) -> dict[str, Any]:
    (table_id,) = synth.of_type("AWS::DynamoDB::Table")
    return {"Fn::GetAtt": [table_id, "Arn"]}


def test_runtime_architecture_memory_timeout_tracing(dev: Synth) -> None:
    for name, fn in _functions(dev).items():
        assert fn["Handler"] == f"functions.{name}.handler.handler"
        assert fn["Runtime"] == "python3.12"
        assert fn["Architectures"] == ["arm64"]
        assert fn["MemorySize"] == 512
        assert fn["Timeout"] == (900 if name in JOBS else 10)
        assert fn["TracingConfig"] == {"Mode": "Active"}


def test_environment(dev: Synth, prod: Synth) -> None:
    (table_id,) = dev.of_type("AWS::DynamoDB::Table")
    common = {
        "STAGE": "dev",
        "POWERTOOLS_SERVICE_NAME": "loyalty",
        "POWERTOOLS_METRICS_NAMESPACE": "Loyalty",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    auth = {
        "AUTH_MEMBER_CLAIM": "username",
        "AUTH_PROGRAMS_CLAIM": "cognito:groups",
        # The stack's own machine clients may use every program of the stack.
        "AUTH_CLIENT_PROGRAMS": {
            "Fn::Join": ["", [{"Ref": "BackendSystemsClient"}, "=* ", {"Ref": "OperatorsClient"}, "=*"]]
        },
    }
    # Every value a variable has is the same in each function that has it: the local runner
    # merges them into one process.
    expected = {
        "earn": {**common, **auth, "TABLE_NAME": {"Ref": table_id}},
        "redeem": {**common, **auth, "TABLE_NAME": {"Ref": table_id}, "MEMBER_WRITES_PER_MINUTE": "10"},
        "member_reads": {**common, **auth, "TABLE_NAME": {"Ref": table_id}},
        "program_admin": {**common, **auth, "TABLE_NAME": {"Ref": table_id}},
        "health": common,
    }
    for job in JOBS:
        expected[job] = {
            **common,
            "TABLE_NAME": {"Ref": table_id},
            "EVENT_BUS_NAME": {"Ref": next(iter(dev.of_type("AWS::Events::EventBus")))},
            "JOB_STOP_MARGIN_MS": "60000",
        }
    for name, fn in _functions(dev).items():
        assert fn["Environment"]["Variables"] == expected[name], name
    for fn in _functions(prod).values():
        assert fn["Environment"]["Variables"]["STAGE"] == "prod"
        assert fn["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_dependencies_come_from_one_arm64_python312_layer(dev: Synth) -> None:
    (layer_id, layer), *others = dev.of_type("AWS::Lambda::LayerVersion").items()
    assert not others
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    for fn in _functions(dev).values():
        assert fn["Layers"] == [{"Ref": layer_id}]


def test_each_function_logs_to_its_own_log_group_with_retention(dev: Synth) -> None:
    log_groups = [fn["LoggingConfig"]["LogGroup"]["Ref"] for fn in _functions(dev).values()]
    assert len(set(log_groups)) == len(log_groups)
    for log_group in log_groups:
        assert dev.resources[log_group]["Properties"]["RetentionInDays"] == 7


def test_one_role_per_function(dev: Synth) -> None:
    roles = [fn["Role"]["Fn::GetAtt"][0] for fn in _functions(dev).values()]
    lambda_roles = [
        role_id
        for role_id, role in dev.of_type("AWS::IAM::Role").items()
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
        == "lambda.amazonaws.com"
    ]
    assert len(set(roles)) == len(roles) == len(lambda_roles)


@pytest.mark.parametrize("name", sorted(TABLE_ACTIONS))
def test_table_actions_exactly_as_listed_on_the_table_arn_only(dev: Synth, name: str) -> None:
    role_id = _functions(dev)[name]["Role"]["Fn::GetAtt"][0]
    dynamodb = [s for s in _statements(dev, role_id) if any(a.startswith("dynamodb:") for a in _as_list(s["Action"]))]
    on_table = [s for s in dynamodb if _as_list(s["Resource"]) == [_table_arn(dev)] and "Condition" not in s]
    conditional = [s for s in dynamodb if "Condition" in s]
    expected_conditional = [{**s, "Resource": _table_arn(dev)} for s in JOB_CONDITIONAL] if name in JOBS else []
    assert sorted(conditional, key=json.dumps) == sorted(expected_conditional, key=json.dumps)
    assert {a for s in on_table for a in _as_list(s["Action"])} == TABLE_ACTIONS[name]
    on_indexes = {
        (_index_name(dev, r), a)
        for s in dynamodb
        if s not in on_table and s not in conditional
        for r in _as_list(s["Resource"])
        for a in _as_list(s["Action"])
    }
    assert on_indexes == INDEX_ACTIONS.get(name, set())
    assert all(s["Effect"] == "Allow" for s in dynamodb)


def _index_name(synth: Synth, resource: Any) -> str:
    """``<table arn>/index/<name>`` as CloudFormation writes it -> ``<name>`` (anything else fails)."""
    parts = resource["Fn::Join"][1]
    assert resource["Fn::Join"][0] == "" and parts[0] == _table_arn(synth) and parts[1].startswith("/index/")
    return str(parts[1].removeprefix("/index/"))


@pytest.mark.parametrize("name", sorted(TABLE_ACTIONS))
def test_role_grants_nothing_else(dev: Synth, name: str) -> None:
    fn = _functions(dev)[name]
    role_id = fn["Role"]["Fn::GetAtt"][0]
    log_group_arn = {"Fn::GetAtt": [fn["LoggingConfig"]["LogGroup"]["Ref"], "Arn"]}
    assert "ManagedPolicyArns" not in dev.resources[role_id]["Properties"]
    for statement in _statements(dev, role_id):
        actions = set(_as_list(statement["Action"]))
        resources = _as_list(statement["Resource"])
        if actions <= XRAY:
            assert resources == ["*"]  # X-Ray has no resource-level permissions
        elif actions <= {"logs:CreateLogStream", "logs:PutLogEvents"}:
            assert resources == [log_group_arn]
        elif name in JOBS and statement.get("Condition"):
            assert statement in [{**s, "Resource": _table_arn(dev)} for s in JOB_CONDITIONAL]
        elif name in JOBS and actions == {"events:PutEvents"}:
            (bus_id,) = dev.of_type("AWS::Events::EventBus")
            assert resources == [{"Fn::GetAtt": [bus_id, "Arn"]}]
        elif name in JOBS and actions == {"lambda:InvokeFunction"}:
            # its own continuation: the function's fixed name, never a wildcard
            (arn,) = resources
            assert arn["Fn::Join"][1][-1] == f":function:{fn['FunctionName']}"
        elif len(resources) == 1 and "Fn::Join" in resources[0]:
            assert {(_index_name(dev, resources[0]), a) for a in actions} <= INDEX_ACTIONS.get(name, set())
        else:
            assert actions <= TABLE_ACTIONS[name], statement


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_wildcard_action_or_resource_beyond_own_table_and_indexes(synth: Callable[[str], Synth], stage: str) -> None:
    template = synth(stage)
    own = {json.dumps(_table_arn(template))}
    own_indexes = {
        json.dumps({"Fn::Join": ["", [_table_arn(template), f"/index/{index}"]]})
        for index in ("*", "tier_due", "expiry_due")
    }
    roles = template.of_type("AWS::IAM::Role")
    # Every role of the stack belongs to one function (Cognito gets none: no SMS role), but the
    # schedules' role, which may only invoke its job (test_jobs.py)
    scheduler_roles = [
        r
        for r in roles.values()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "scheduler.amazonaws.com"}
    ]
    assert len(roles) == len(_functions(template)) + len(scheduler_roles)
    for role_id in roles:
        for statement in _statements(template, role_id):
            actions = _as_list(statement["Action"])
            resources = _as_list(statement["Resource"])
            assert statement["Effect"] == "Allow"
            assert not [a for a in actions if "*" in a], statement  # no "*", "dynamodb:*", "dynamodb:Get*"
            if any(a.startswith("dynamodb:") for a in actions):
                assert {json.dumps(r) for r in resources} <= own | own_indexes, statement
            if "*" in resources:
                assert set(actions) <= XRAY, statement


def test_no_secret_in_any_environment_or_output(dev: Synth) -> None:
    secret_names = re.compile(r"SECRET|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_KEY|TOKEN", re.IGNORECASE)
    for fn in _functions(dev).values():
        for name, value in fn["Environment"]["Variables"].items():
            assert not secret_names.search(name), name
            assert "ClientSecret" not in json.dumps(value), name
    for output in dev.template.to_json().get("Outputs", {}).values():
        assert "ClientSecret" not in json.dumps(output)
    # Nothing in the template reads a client secret at all
    assert "ClientSecret" not in json.dumps(dev.template.to_json())
