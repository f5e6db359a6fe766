"""Scheduled jobs: the event bus they publish on, their functions, and one schedule per program.

Each program in ``config/programs/`` gets an EventBridge Scheduler schedule per job, in the
program's own time zone (Scheduler supports IANA zones; classic EventBridge rules are UTC only).
The target input carries the scheduled time, which is the job's "now":

    {"source": "loyalty.scheduler", "detail-type": "Scheduled Event",
     "time": "<aws.scheduler.scheduled-time>", "detail": {"job": ..., "program_id": ...}}
"""

import json

from aws_cdk import ArnFormat, CfnElement, Stack, TimeZone
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from infra import constants
from infra.api_function import ApiFunction
from infra.constants import JobSpec, StageSettings
from infra.nag import acknowledge

SCHEDULE_SOURCE = "loyalty.scheduler"


def program_time_zones() -> dict[str, str]:
    """Program id -> IANA time zone, for every program config shipped in ``config/programs``."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))["time_zone"]
        for path in sorted(constants.PROGRAMS_DIR.glob("*.json"))
    }


def job_function_name(stage: str, spec: JobSpec) -> str:
    """A fixed name, so the function's own role can allow it to invoke itself (continuations)
    without a dependency cycle between the function and its role."""
    return f"{constants.SERVICE_NAME}-{stage}-{spec.function.name.replace('_', '-')}"


class Jobs(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        settings: StageSettings,
        table: dynamodb.ITable,
        layer: lambda_.ILayerVersion,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.functions: dict[str, lambda_.Function] = {}
        zones = program_time_zones()
        for spec in constants.JOBS:
            name = job_function_name(stage, spec)
            self_arn = stack.format_arn(
                service="lambda", resource="function", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )
            function = ApiFunction(
                self,
                spec=spec.function,
                stage=stage,
                settings=settings,
                table=table,
                layer=layer,
                function_name=name,
                environment={
                    "EVENT_BUS_NAME": bus.event_bus_name,
                    "JOB_STOP_MARGIN_MS": str(constants.JOB_STOP_MARGIN_MS),
                },
                extra_policies={
                    "Publish": iam.PolicyDocument(
                        statements=[iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus.event_bus_arn])]
                    ),
                    # Published events leave the outbox: deletes (BatchWriteItem) on outbox keys only.
                    "Outbox": iam.PolicyDocument(
                        statements=[
                            iam.PolicyStatement(
                                actions=["dynamodb:BatchWriteItem"],
                                resources=[table.table_arn],
                                conditions={
                                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [constants.OUTBOX_KEYS]}
                                },
                            )
                        ]
                    ),
                    "Continue": iam.PolicyDocument(
                        statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self_arn])]
                    ),
                },
            ).function
            self.functions[spec.function.name] = function
            # One role for the job's schedules; the target grants it invoke on this function only.
            role = iam.Role(
                self,
                f"{spec.function.construct_id}SchedulerRole",
                assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
                description=f"EventBridge Scheduler: invoke {name}",
            )
            for program_id, time_zone in zones.items():
                self._schedule(spec, function, role, program_id, time_zone)
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(_cfn(function))}.Arn>:*]",
                "grantInvoke allows the function's own versions and aliases (<function arn>:*); "
                "the resource is this one job function, never another",
            )

    def _schedule(
        self, spec: JobSpec, function: lambda_.IFunction, role: iam.IRole, program_id: str, time_zone: str
    ) -> None:
        scheduler.Schedule(
            self,
            f"{spec.function.construct_id}-{program_id}",
            description=f"{spec.description} ({program_id}, daily {spec.hour:02d}:{spec.minute:02d} {time_zone})",
            schedule=scheduler.ScheduleExpression.cron(
                minute=str(spec.minute), hour=str(spec.hour), time_zone=TimeZone.of(time_zone)
            ),
            target=targets.LambdaInvoke(
                function,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "source": SCHEDULE_SOURCE,
                        "detail-type": "Scheduled Event",
                        "time": scheduler.ContextAttribute.scheduled_time,
                        "detail": {"job": spec.job, "program_id": program_id},
                    }
                ),
                retry_attempts=3,
                role=role,
            ),
        )


def _cfn(function: lambda_.Function) -> CfnElement:
    resource = function.node.default_child
    assert isinstance(resource, CfnElement)
    return resource


def bus(scope: Construct, stage: str) -> events.EventBus:
    """The bus results go out on: ``tier.changed``, ``points.expired``, ``points.expiring``."""
    return events.EventBus(
        scope,
        constants.EVENT_BUS_ID,
        event_bus_name=f"{constants.SERVICE_NAME}-{stage}",
        description="Loyalty engine events (source 'loyalty')",
    )
