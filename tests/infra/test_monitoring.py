"""Alarms: each function's Errors and Throttles, and the API's 5xx."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


def test_errors_and_throttles_alarm_for_every_function(dev: Synth) -> None:
    alarms = [a["Properties"] for a in dev.of_type("AWS::CloudWatch::Alarm").values()]
    for function_id in dev.of_type("AWS::Lambda::Function"):
        watched = {
            a["MetricName"]
            for a in alarms
            if a["Namespace"] == "AWS/Lambda"
            and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
        }
        assert watched == {"Errors", "Throttles"}, function_id


def test_api_5xx_alarm(dev: Synth) -> None:
    (api_id,) = dev.of_type("AWS::ApiGatewayV2::Api")
    dev.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/ApiGateway",
            "MetricName": "5xx",
            "Dimensions": [{"Name": "ApiId", "Value": {"Ref": api_id}}],
            "Statistic": "Sum",
            "Threshold": 1,
            "TreatMissingData": "notBreaching",
        },
    )


def test_prod_keeps_its_logs_dev_does_not(dev: Synth, prod: Synth) -> None:
    prod.template.all_resources("AWS::Logs::LogGroup", {"DeletionPolicy": "Retain"})
    dev.template.all_resources("AWS::Logs::LogGroup", {"DeletionPolicy": "Delete"})
