"""Alarms and a dashboard for the API and its functions."""

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

_PERIOD = Duration.minutes(5)


class Monitoring(Construct):
    """One alarm per function for Errors and Throttles, one for API 5xx, and a dashboard.

    No notification target yet: ``alarms`` is there for whoever wires SNS or chat later.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigwv2.HttpApi,
        functions: Mapping[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = [
            self._alarm("Api5xx", api.metric_server_error(period=_PERIOD), "API returned 5xx responses")
        ]
        for name, fn in functions.items():
            self.alarms.append(self._alarm(f"{name}-errors", fn.metric_errors(period=_PERIOD), f"{name} failed"))
            self.alarms.append(
                self._alarm(f"{name}-throttles", fn.metric_throttles(period=_PERIOD), f"{name} was throttled")
            )
        self._dashboard(api, functions)

    def _alarm(self, construct_id: str, metric: cloudwatch.Metric, description: str) -> cloudwatch.Alarm:
        # Any occurrence in a 5-minute window alarms; no data means nothing went wrong.
        return metric.with_(statistic="Sum").create_alarm(
            self,
            construct_id,
            alarm_description=description,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _dashboard(self, api: apigwv2.HttpApi, functions: Mapping[str, lambda_.Function]) -> None:
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[api.metric_count(period=_PERIOD), api.metric_client_error(period=_PERIOD)],
                right=[api.metric_server_error(period=_PERIOD)],
            ),
            cloudwatch.GraphWidget(
                title="API latency p99",
                left=[api.metric_latency(period=_PERIOD, statistic="p99")],
            ),
        )
        for name, fn in functions.items():
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{name}: invocations, errors, throttles",
                    left=[fn.metric_invocations(period=_PERIOD), fn.metric_errors(period=_PERIOD)],
                    right=[fn.metric_throttles(period=_PERIOD)],
                ),
                cloudwatch.GraphWidget(
                    title=f"{name}: duration p99", left=[fn.metric_duration(period=_PERIOD, statistic="p99")]
                ),
            )
