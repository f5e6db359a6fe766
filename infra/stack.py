"""The stack of one stage: table, dependency layer, functions, HTTP API, event bus, jobs, monitoring."""

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import constants
from infra.api_function import ApiFunction
from infra.assets import layer_code
from infra.auth import LoyaltyAuth
from infra.http_api import LoyaltyHttpApi
from infra.jobs import Jobs, bus
from infra.ledger_table import LedgerTable
from infra.monitoring import Monitoring


class LoyaltyStack(Stack):
    """Everything one stage (dev, staging, prod) runs. Environment-agnostic: no account or region."""

    def __init__(self, scope: Construct, *, stage: str) -> None:
        super().__init__(scope, constants.stack_name(stage), description=f"Loyalty engine ({stage})")
        settings = constants.STAGES[stage]
        Tags.of(self).add("service", constants.SERVICE_NAME)
        Tags.of(self).add("stage", stage)

        table = LedgerTable(self, constants.LEDGER_TABLE_ID, settings=settings).table
        layer = lambda_.LayerVersion(
            self,
            constants.LAYER_ID,
            code=layer_code(),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Runtime dependencies from pyproject.toml (Powertools, PynamoDB, pydantic)",
        )
        auth = LoyaltyAuth(self, constants.AUTH_ID, stage=stage, settings=settings)
        functions = {
            spec.name: ApiFunction(
                self,
                spec=spec,
                stage=stage,
                settings=settings,
                table=table,
                layer=layer,
                auth_environment=auth.environment,
            ).function
            for spec in constants.API_FUNCTIONS
        }
        http_api = LoyaltyHttpApi(
            self, constants.API_ID, functions=functions, settings=settings, authorizer=auth.authorizer
        )
        event_bus = bus(self, stage)
        jobs = Jobs(self, constants.JOBS_ID, stage=stage, settings=settings, table=table, layer=layer, bus=event_bus)
        Monitoring(self, constants.MONITORING_ID, api=http_api.api, functions={**functions, **jobs.functions})

        CfnOutput(self, "ApiUrl", value=http_api.stage.url)
        CfnOutput(self, "TableName", value=table.table_name)
        CfnOutput(self, "EventBusName", value=event_bus.event_bus_name)
        if auth.user_pool is not None:
            # Ids only: client secrets stay in Cognito (describe-user-pool-client reads them).
            CfnOutput(self, "UserPoolId", value=auth.user_pool.user_pool_id)
