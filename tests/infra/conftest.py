"""Infra test fixtures: each stage is synthesized once per test session and shared.

Synthesis costs seconds, so every infra test reads one cached synth per stage; and all infra
tests run on one pytest-xdist worker (group "infra") so that cache is not rebuilt per worker.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Offline, quiet synth (the Makefile exports the same; direct pytest runs need them too).
for _name, _value in {
    "CDK_DISABLE_VERSION_CHECK": "1",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
}.items():
    os.environ.setdefault(_name, _value)

import aws_cdk as cdk  # noqa: E402  (after the environment the jsii runtime reads at import)
from aws_cdk.assertions import Template  # noqa: E402

from infra.app import build_app  # noqa: E402
from infra.constants import stack_name  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Send every infra test to the same xdist worker, so the per-stage synth cache is shared."""
    for item in items:
        if item.get_closest_marker("infra"):
            item.add_marker(pytest.mark.xdist_group("infra"))


@dataclass(frozen=True)
class Synth:
    """One synthesized stage: the app, its stack, assertions template and cloud assembly dir."""

    app: cdk.App
    stack: cdk.Stack
    template: Template
    outdir: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The template's resources as plain JSON (logical id -> resource)."""
        return dict(self.template.to_json()["Resources"])

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Resources of one CloudFormation type, by logical id."""
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def asset_dir(self, s3_key: str) -> Path:
        """The staged directory of the asset a resource's ``S3Key`` names (``<hash>.zip``)."""
        return self.outdir / f"asset.{s3_key.removesuffix('.zip')}"

    def validation_report(self) -> dict[str, Any]:
        """CDK's validation report of this synth (cdk-nag 3 reports into it)."""
        return dict(json.loads((self.outdir / "validation-report.json").read_text()))


@pytest.fixture(scope="session")
def synth() -> Iterator[Callable[[str], Synth]]:
    """``synth(stage)``: the stage synthesized into a temporary cloud assembly, cached per session."""
    cache: dict[str, Synth] = {}
    # Not tmp_path_factory: each assembly holds a ~50 MB copy of the layer; pytest would keep
    # three sessions' worth of them. These go when the session ends.
    with tempfile.TemporaryDirectory(prefix="loyalty-infra-") as root:

        def get(stage: str) -> Synth:
            if stage not in cache:
                outdir = Path(root) / stage
                app = build_app(stage, str(outdir))
                app.synth()  # raises if cdk-nag or CloudFormation validation reports an error
                stack = app.node.find_child(stack_name(stage))
                assert isinstance(stack, cdk.Stack)
                cache[stage] = Synth(app, stack, Template.from_stack(stack), outdir)
            return cache[stage]

        yield get


@pytest.fixture(scope="module")
def dev(synth: Callable[[str], Synth]) -> Synth:
    """The dev stage."""
    return synth("dev")


@pytest.fixture(scope="module")
def prod(synth: Callable[[str], Synth]) -> Synth:
    """The prod stage."""
    return synth("prod")
