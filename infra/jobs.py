"""Scheduled jobs: the event bus they publish on, their functions, and one hourly schedule per job.

Each job has one EventBridge Scheduler schedule, hourly in UTC at the job's minute, naming no
program. The job function then dispatches (``shared.job_handler.dispatch``): it lists the
program registry (every program, shipped or created with ``PUT /v1/programs/{id}``, with its time
zone) and starts, asynchronously, the run of each program whose local time is in the job's hour.
So every program gets its jobs in its own time zone without a schedule, or a deploy, per program.
The target input carries the scheduled time, which is the job's "now":

    {"source": "loyalty.scheduler", "detail-type": "Scheduled Event",
     "time": "<aws.scheduler.scheduled-time>", "detail": {"job": ..., "local_hour": ...}}
"""

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


def _on_keys(action: str, table: dynamodb.ITable, leading_keys: list[str]) -> iam.PolicyDocument:
    """``action`` on the table, only on items whose partition key matches one of ``leading_keys``."""
    return iam.PolicyDocument(
        statements=[
            iam.PolicyStatement(
                actions=[action],
                resources=[table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": leading_keys}},
            )
        ]
    )


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
                    # Queries on the table: its own outbox (to drain it) and the program registry
                    # (to dispatch); members are found through the due-date index, granted apart.
                    "Query": _on_keys("dynamodb:Query", table, list(constants.JOB_QUERY_KEYS)),
                    # Published events leave the outbox: deletes (BatchWriteItem) on outbox keys only.
                    "Outbox": _on_keys("dynamodb:BatchWriteItem", table, [constants.OUTBOX_KEYS]),
                    # Its own continuations, and a dispatch's start of each program's run.
                    "Continue": iam.PolicyDocument(
                        statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self_arn])]
                    ),
                },
            ).function
            self.functions[spec.function.name] = function
            # The role of the job's schedule; the target grants it invoke on this function only.
            role = iam.Role(
                self,
                f"{spec.function.construct_id}SchedulerRole",
                assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
                description=f"EventBridge Scheduler: invoke {name}",
            )
            self._schedule(spec, function, role)
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(_cfn(function))}.Arn>:*]",
                "grantInvoke allows the function's own versions and aliases (<function arn>:*); "
                "the resource is this one job function, never another",
            )

    def _schedule(self, spec: JobSpec, function: lambda_.IFunction, role: iam.IRole) -> None:
        scheduler.Schedule(
            self,
            f"{spec.function.construct_id}Schedule",
            description=(
                f"{spec.description} (hourly at :{spec.minute:02d} UTC: every program whose local time"
                f" is then {spec.hour:02d}:xx)"
            ),
            schedule=scheduler.ScheduleExpression.cron(minute=str(spec.minute), hour="*", time_zone=TimeZone.ETC_UTC),
            target=targets.LambdaInvoke(
                function,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "source": SCHEDULE_SOURCE,
                        "detail-type": "Scheduled Event",
                        "time": scheduler.ContextAttribute.scheduled_time,
                        "detail": {"job": spec.job, "local_hour": spec.hour},
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
