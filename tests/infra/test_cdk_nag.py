"""cdk-nag AwsSolutions: no unacknowledged finding in any stage; every acknowledgment has a reason.

cdk-nag 3 is a CDK policy validation plugin, not an Aspect: it writes no annotations, so
``Annotations.find_error`` would pass vacuously. Instead: synth raises on any error finding
(the session fixture would fail), the validation report must hold no AwsSolutions entry, and
running the pack directly over the app must find nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

STAGES = ["dev", "staging", "prod"]


@pytest.mark.parametrize("stage", STAGES)
def test_validation_report_has_no_aws_solutions_findings(synth: Callable[[str], Synth], stage: str) -> None:
    report = synth(stage).validation_report()
    findings = [
        violation["ruleName"]
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
        if violation["ruleName"].startswith("AwsSolutions-")
    ]
    assert findings == []


@pytest.mark.parametrize("stage", STAGES)
def test_aws_solutions_pack_finds_nothing(synth: Callable[[str], Synth], stage: str) -> None:
    report = AwsSolutionsChecks(verbose=True).validate_scope(synth(stage).app)
    assert [(v.rule_name, v.severity) for v in report.violations] == []
    assert report.success


def _acknowledgments(synth: Synth) -> dict[tuple[str, str], str]:
    """(construct path, rule id) -> reason, for every acknowledgment in the app."""
    acknowledged = {}
    for construct in synth.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id, reason in entry.data.items():
                    # CDK stores "Annotation::<rule id>" (lower-case "annotation::" before 2.262.1).
                    acknowledged[(construct.node.path, re.sub(r"^annotation::", "", rule_id, flags=re.I))] = reason
    return acknowledged


@pytest.mark.parametrize("stage", STAGES)
def test_acknowledgments_are_the_known_few_each_with_a_reason(synth: Callable[[str], Synth], stage: str) -> None:
    acknowledged = _acknowledgments(synth(stage))
    by_rule: dict[str, int] = {}
    for (_path, rule_id), reason in acknowledged.items():
        assert len(reason) > 30, rule_id
        by_rule[rule_id] = by_rule.get(rule_id, 0) + 1
    expected = {
        "AwsSolutions-IAM5[Resource::*]": 7,  # the X-Ray statement of each function's default policy
        "AwsSolutions-L1": 7,  # python3.12, pinned with the layer
        # each job's schedules may invoke its versions and aliases (<job function arn>:*)
        "AwsSolutions-IAM5[Resource::<JobsTierJobFunctionDC6297A6.Arn>:*]": 1,
        "AwsSolutions-IAM5[Resource::<JobsExpiryJobFunctionEFFA9A5E.Arn>:*]": 1,
        "AwsSolutions-APIG4": 1,  # GET /health, the one open route
        "AwsSolutions-COG2": 1,  # members may enable MFA, are not forced to
    }
    if stage == "dev":
        expected["AwsSolutions-DDB3"] = 1  # no point-in-time recovery for disposable dev data
    if stage != "prod":
        expected["AwsSolutions-COG8"] = 1  # Cognito Plus (threat protection) in prod only
    assert by_rule == expected


def test_xray_acknowledgment_is_on_the_default_policy_only(dev: Synth) -> None:
    paths = [path for (path, rule) in _acknowledgments(dev) if rule == "AwsSolutions-IAM5[Resource::*]"]
    assert paths and all(path.endswith("/Role/DefaultPolicy") for path in paths)


def test_scheduler_acknowledgments_are_on_the_scheduler_roles_only(dev: Synth) -> None:
    paths = sorted(path for (path, rule) in _acknowledgments(dev) if rule.startswith("AwsSolutions-IAM5[Resource::<"))
    assert paths == ["Loyalty-dev/Jobs/ExpiryJobSchedulerRole", "Loyalty-dev/Jobs/TierJobSchedulerRole"]


def test_only_the_health_route_is_acknowledged_open(dev: Synth) -> None:
    open_routes = [path for (path, rule) in _acknowledgments(dev) if rule == "AwsSolutions-APIG4"]
    assert len(open_routes) == 1 and open_routes[0].endswith("/GET--health")


def test_cognito_acknowledgments_are_on_the_user_pool(dev: Synth) -> None:
    paths = {path for (path, rule) in _acknowledgments(dev) if rule.startswith("AwsSolutions-COG")}
    assert paths == {f"{dev.stack.node.path}/Auth/Members"}
