"""CDK app entry: ``cdk synth -c stage=dev|staging|prod`` (default dev), one stack per stage."""

import json

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra import constants
from infra.stack import LoyaltyStack

# The context key `cdk synth --no-staging` sets (cx-api DISABLE_ASSET_STAGING_CONTEXT).
_DISABLE_ASSET_STAGING = "aws:cdk:disable-asset-staging"


def _cdk_json_context() -> dict[str, object]:
    # The CLI passes cdk.json's context (feature flags) to the app; in-process callers (tests,
    # the local manifest) get the same flags here, so every synth produces the same template.
    cdk_json = json.loads((constants.REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))
    return dict(cdk_json.get("context", {}))


def build_app(
    stage: str, outdir: str | None = None, *, template_only: bool = False, context: dict[str, str] | None = None
) -> cdk.App:
    """Build the app holding the ``Loyalty-<stage>`` stack, with the cdk-nag AwsSolutions checks.

    ``template_only=True`` is for callers that only read the template (the local manifest): it
    skips CDK's CloudFormation schema validation (~3 s per process) and the copying of assets
    (the ~50 MB layer) into the output directory. Asset hashes in the template are unchanged.
    ``context`` adds context values, as ``cdk synth -c key=value`` does (e.g. ``jwt_issuer``).
    """
    if stage not in constants.STAGES:
        raise ValueError(f"unknown stage {stage!r}: expected one of {', '.join(constants.STAGES)}")
    context_values: dict[str, object] = {**_cdk_json_context(), **(context or {})}
    if template_only:
        context_values[_DISABLE_ASSET_STAGING] = True
    app = cdk.App(outdir=outdir, context=context_values, builtin_cloud_formation_validation=not template_only)
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
