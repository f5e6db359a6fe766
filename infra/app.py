"""CDK app entry: ``cdk synth -c stage=dev|staging|prod`` (default dev), one stack per stage."""

import json

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra import constants
from infra.stack import LoyaltyStack


def _cdk_json_context() -> dict[str, object]:
    # The CLI passes cdk.json's context (feature flags) to the app; in-process callers (tests,
    # the local manifest) get the same flags here, so every synth produces the same template.
    cdk_json = json.loads((constants.REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))
    return dict(cdk_json.get("context", {}))


def build_app(stage: str, outdir: str | None = None, *, validate_templates: bool = True) -> cdk.App:
    """Build the app holding the ``Loyalty-<stage>`` stack, with the cdk-nag AwsSolutions checks.

    ``validate_templates=False`` skips CDK's built-in CloudFormation schema validation, which
    costs about 3 s per process; only callers that merely read the template should use it.
    """
    if stage not in constants.STAGES:
        raise ValueError(f"unknown stage {stage!r}: expected one of {', '.join(constants.STAGES)}")
    app = cdk.App(outdir=outdir, context=_cdk_json_context(), builtin_cloud_formation_validation=validate_templates)
    LoyaltyStack(app, stage=stage)
    # cdk-nag 3 is a policy validation plugin: synth fails on any unacknowledged error.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


def main() -> None:
    """Synthesize the stage named by the ``stage`` context value (``-c stage=...``)."""
    # A throwaway app only reads the CLI's context; it must never synthesize on its own.
    stage = cdk.App(auto_synth=False).node.try_get_context("stage") or constants.DEFAULT_STAGE
    build_app(stage).synth()


if __name__ == "__main__":
    main()
