"""One Lambda function with its own log group and least-privilege role."""

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants
from infra.assets import function_code
from infra.constants import FunctionSpec, StageSettings
from infra.nag import acknowledge


class ApiFunction(Construct):
    """A function serving API routes: code from ``functions/<name>/`` + ``shared/``, deps from the layer."""

    def __init__(
        self,
        scope: Construct,
        *,
        spec: FunctionSpec,
        stage: str,
        settings: StageSettings,
        table: dynamodb.ITable,
        layer: lambda_.ILayerVersion,
        auth_environment: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        extra_policies: Mapping[str, iam.PolicyDocument] | None = None,
        function_name: str | None = None,
    ) -> None:
        """``auth_environment``: API functions only (scheduled jobs have no caller to authorize);
        ``environment``/``extra_policies``: what a job adds (its bus, its continuation)."""
        super().__init__(scope, spec.construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=settings.log_retention, removal_policy=settings.removal_policy
        )
        self.role = self._role(spec, table, extra_policies or {})
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=spec.handler,
            code=function_code(spec.name),
            layers=[layer],
            memory_size=constants.LAMBDA_MEMORY_MB,
            timeout=Duration.seconds(spec.timeout_seconds),
            function_name=function_name,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            environment={**self._environment(spec, stage, settings, table, auth_environment), **(environment or {})},
        )
        self._acknowledge_findings()

    @staticmethod
    def _environment(
        spec: FunctionSpec,
        stage: str,
        settings: StageSettings,
        table: dynamodb.ITable,
        auth_environment: Mapping[str, str] | None,
    ) -> dict[str, str]:
        environment = {
            "STAGE": stage,
            "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": settings.log_level,
            # Lambda active tracing records each invocation without the X-Ray SDK; skipping
            # Powertools' Tracer saves about 150 ms of cold-start import time.
            "POWERTOOLS_TRACE_DISABLED": "true",
            # The engine uses no pydantic plugin: without this, building the first model reads
            # the metadata of every installed package looking for one (about 15 ms a cold start).
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
        }
        if spec.table_actions:
            environment["TABLE_NAME"] = table.table_name
        if not spec.public and auth_environment is not None:
            # Where the tokens carry the member id and programs: names and client ids, no secret.
            environment.update(auth_environment)
        if spec.member_writes:
            environment["MEMBER_WRITES_PER_MINUTE"] = str(settings.member_writes_per_minute)
        return environment

    def _role(
        self, spec: FunctionSpec, table: dynamodb.ITable, extra_policies: Mapping[str, iam.PolicyDocument]
    ) -> iam.Role:
        # The table's ARN, plus the ARN of each index the function queries (jobs only).
        # Logs go to this function's own log group; no AWSLambdaBasicExecutionRole.
        policies = dict(extra_policies)
        if spec.table_actions:
            statements = [iam.PolicyStatement(actions=list(spec.table_actions), resources=[table.table_arn])]
            for index, action in spec.index_actions:
                statements.append(iam.PolicyStatement(actions=[action], resources=[f"{table.table_arn}/index/{index}"]))
            policies["LedgerTable"] = iam.PolicyDocument(statements=statements)
        actions = ", ".join(spec.table_actions) or "nothing"
        return iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{spec.name} function: {actions} on the ledger table",
            inline_policies={
                **policies,
                "Logs": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[self.log_group.log_group_arn],
                        )
                    ]
                ),
            },
        )

    def _acknowledge_findings(self) -> None:
        # Tracing.ACTIVE adds xray:PutTraceSegments/PutTelemetryRecords to the role's default
        # policy, which holds nothing else (the table and logs grants are inline policies above).
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments and PutTelemetryRecords do not support resource-level "
            "permissions; this default policy holds only those two actions",
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "python3.12 is pinned on purpose: the dependency layer is pip-installed as cp312 arm64 "
            "wheels (Makefile); moving the runtime means rebuilding and retesting both together",
        )
