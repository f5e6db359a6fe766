"""cdk-nag (v3) checks and the one way this app acknowledges a finding."""

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` and its children, with a written reason.

    ``rule_id`` is as specific as the rule allows, e.g. ``AwsSolutions-IAM5[Resource::*]``
    for one finding of a multi-finding rule (cdk-nag v3 has no prefix matching).
    """
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
