"""The HTTP API: routes from ``infra.routes``, each behind the JWT authorizer with its scopes
(``shared.auth.ROUTE_SCOPES``) except the health check; throttling and access logs on the stage."""

import json
from collections.abc import Mapping

import jsii
from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constants import StageSettings
from infra.nag import acknowledge
from infra.routes import ROUTES
from shared import auth

# HTTP API context variables ($context.resourcePath and friends are REST-only).
_ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "path": "$context.path",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        # Why the JWT authorizer refused a request (expired, wrong audience, missing scope):
        # the reason only, never the token or its claims.
        "authorizerError": "$context.authorizer.error",
    }
)

_PUBLIC_ROUTE = (
    "the health check is deliberately open (load balancers and uptime probes carry no token); its "
    "function returns a constant and has no table permission"
)


class LoyaltyHttpApi(Construct):
    """HTTP API (payload format 2.0) with one Lambda proxy integration per function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        settings: StageSettings,
        authorizer: apigwv2.IHttpRouteAuthorizer,
    ) -> None:
        super().__init__(scope, construct_id)
        # The default stage is built below, to give it throttling and access logs.
        self.api = apigwv2.HttpApi(self, "Resource", api_name=Stack.of(self).stack_name, create_default_stage=False)
        self.stage = self._default_stage(settings)
        integration_of = {
            name: integrations.HttpLambdaIntegration(
                f"{name}-integration", fn, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
            )
            for name, fn in functions.items()
        }
        for route in ROUTES:
            if route.key in auth.PUBLIC_ROUTES:
                (http_route,) = self.api.add_routes(
                    path=route.path,
                    methods=[apigwv2.HttpMethod(route.method)],
                    integration=integration_of[route.function],
                    authorizer=apigwv2.HttpNoneAuthorizer(),
                )
                # Per route, so a route added later without an authorizer still fails cdk-nag.
                acknowledge(http_route, "AwsSolutions-APIG4", _PUBLIC_ROUTE)
                continue
            # KeyError here: a new route must first say who may call it (shared.auth.ROUTE_SCOPES).
            self.api.add_routes(
                path=route.path,
                methods=[apigwv2.HttpMethod(route.method)],
                integration=integration_of[route.function],
                authorizer=authorizer,
                authorization_scopes=list(auth.ROUTE_SCOPES[route.key]),
            )

    def _default_stage(self, settings: StageSettings) -> apigwv2.HttpStage:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=settings.log_retention, removal_policy=settings.removal_policy
        )
        return apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=settings.throttle_rate_limit, burst_limit=settings.throttle_burst_limit
            ),
            access_log_settings=_AccessLogSettings(access_logs),
        )


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """JSON access log lines into ``log_group``."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._log_group = log_group

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return apigwv2.LogGroupLogDestination(self._log_group)

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(_ACCESS_LOG_FORMAT)
