"""The scheduled jobs in the template: the bus, the schedules and the jobs' own permissions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


def _job_function(synth: Synth, name: str = "tier_job") -> tuple[str, dict[str, Any]]:
    ((logical_id, fn),) = [
        (k, v["Properties"])
        for k, v in synth.of_type("AWS::Lambda::Function").items()
        if v["Properties"]["Handler"] == f"functions.{name}.handler.handler"
    ]
    return logical_id, fn


def _schedule(synth: Synth, function_id: str) -> dict[str, Any]:
    (schedule,) = [
        s
        for s in synth.of_type("AWS::Scheduler::Schedule").values()
        if s["Properties"]["Target"]["Arn"]["Fn::GetAtt"][0] == function_id
    ]
    return schedule


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_one_bus_per_stage(synth: Any, stage: str) -> None:
    (bus,) = synth(stage).of_type("AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == f"loyalty-{stage}"


@pytest.mark.parametrize(
    ("name", "job", "cron"), [("tier_job", "tier", "cron(10 * * * ? *)"), ("expiry_job", "expiry", "cron(5 * * * ? *)")]
)
def test_each_job_has_one_hourly_utc_schedule_for_every_program(dev: Synth, name: str, job: str, cron: str) -> None:
    # One schedule per job, naming no program: the function dispatches to every program of the
    # registry whose local time is then in the job's hour (00:xx), shipped or created at run time.
    function_id, fn = _job_function(dev, name)
    props = _schedule(dev, function_id)["Properties"]
    assert props["ScheduleExpression"] == cron
    assert props["ScheduleExpressionTimezone"] == "Etc/UTC"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["State"] == "ENABLED"
    target = props["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert json.loads(target["Input"]) == {
        "source": "loyalty.scheduler",
        "detail-type": "Scheduled Event",
        "time": "<aws.scheduler.scheduled-time>",
        "detail": {"job": job, "local_hour": 0},
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3
    assert fn["Timeout"] == 900
    assert fn["FunctionName"] == f"loyalty-dev-{name.replace('_', '-')}"


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_schedules_do_not_grow_with_programs(synth: Any, stage: str) -> None:
    # No schedule per program (config/programs or PUT): adding a program needs no deploy.
    schedules = synth(stage).of_type("AWS::Scheduler::Schedule").values()
    assert sorted(json.loads(s["Properties"]["Target"]["Input"])["detail"]["job"] for s in schedules) == [
        "expiry",
        "tier",
    ]
    assert not any("program_id" in json.loads(s["Properties"]["Target"]["Input"])["detail"] for s in schedules)


@pytest.mark.parametrize("name", ["tier_job", "expiry_job"])
def test_scheduler_role_may_only_invoke_the_job(dev: Synth, name: str) -> None:
    function_id, _fn = _job_function(dev, name)
    schedule = _schedule(dev, function_id)
    role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role = dev.resources[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    statements = [
        statement
        for policy in dev.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert [s["Action"] for s in statements] == ["lambda:InvokeFunction"]
    arn = {"Fn::GetAtt": [function_id, "Arn"]}
    assert statements[0]["Resource"] == [arn, {"Fn::Join": ["", [arn, ":*"]]}]


@pytest.mark.parametrize(("name", "index"), [("tier_job", "tier_due"), ("expiry_job", "expiry_due")])
def test_job_publishes_only_to_its_bus_and_invokes_only_itself(dev: Synth, name: str, index: str) -> None:
    _function_id, fn = _job_function(dev, name)
    role = dev.resources[fn["Role"]["Fn::GetAtt"][0]]["Properties"]
    policies = {p["PolicyName"]: p["PolicyDocument"]["Statement"] for p in role["Policies"]}
    (bus_id,) = dev.of_type("AWS::Events::EventBus")
    assert policies["Publish"] == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": {"Fn::GetAtt": [bus_id, "Arn"]}}
    ]
    (invoke,) = policies["Continue"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["Resource"]["Fn::Join"][1][-1] == f":function:loyalty-dev-{name.replace('_', '-')}"
    # the due-date index it reads, and no other index
    index_resources = [
        s["Resource"]
        for s in policies["LedgerTable"]
        if isinstance(s["Resource"], dict) and "Fn::Join" in s["Resource"]
    ]
    assert [r["Fn::Join"][1][1] for r in index_resources] == [f"/index/{index}"]


@pytest.mark.parametrize("name", ["tier_job", "expiry_job"])
def test_job_queries_only_its_outboxes_and_the_program_registry(dev: Synth, name: str) -> None:
    from shared.models import program_registry_pk

    _function_id, fn = _job_function(dev, name)
    role = dev.resources[fn["Role"]["Fn::GetAtt"][0]]["Properties"]
    (table_id,) = dev.of_type("AWS::DynamoDB::Table")
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    queries = [
        s for s in statements if "dynamodb:Query" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    on_table = [s for s in queries if s["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}]
    # Query on the table only where the partition key is an outbox or the registry; the due-date
    # index (its own ARN) is how members are found.
    assert on_table == [
        {
            "Action": "dynamodb:Query",
            "Condition": {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PROGRAM#*#OUTBOX#*", program_registry_pk()]}
            },
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [table_id, "Arn"]},
        }
    ]
    assert program_registry_pk() == "PROGRAMS"
    assert len(queries) == 2  # and the due-date index (test_job_publishes_only_to_its_bus_and_invokes_only_itself)
