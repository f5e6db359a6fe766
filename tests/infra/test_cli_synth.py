"""The app entry: the real CDK CLI synthesizes prod offline from the repository root; stages are checked."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.app import build_app
from infra.constants import REPO_ROOT

pytestmark = pytest.mark.infra

CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"


@pytest.fixture
def outdir() -> Iterator[Path]:
    # Not tmp_path: pytest would keep the assembly's ~50 MB layer copy around after the run.
    with tempfile.TemporaryDirectory(prefix="loyalty-cli-synth-") as directory:
        yield Path(directory)


def test_cdk_synth_prod_offline(outdir: Path) -> None:
    assert CDK.exists(), "CDK CLI not installed: run `make deps`"
    # Given no network (proxies point at a closed port) and no AWS credentials
    env = {
        **os.environ,
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)

    # When the CLI synthesizes the prod stage
    result = subprocess.run(
        [str(CDK), "synth", "-c", "stage=prod", "--quiet", "--no-notices", "-o", str(outdir)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then it succeeds with exactly the prod stack
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in outdir.glob("*.template.json")) == ["Loyalty-prod.template.json"]
    template = json.loads((outdir / "Loyalty-prod.template.json").read_text())
    (table,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert table["DeletionPolicy"] == "Retain"


def test_unknown_stage_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown stage 'qa'"):
        build_app("qa")
