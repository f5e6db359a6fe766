"""What ships: each function's asset holds its own folder and shared/ only; the layer holds python/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from infra import assets

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

FUNCTIONS = ["earn", "redeem", "member_reads", "program_admin", "health"]


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def _code_dir(synth: Synth, name: str) -> Path:
    (fn,) = [
        f["Properties"]
        for f in synth.of_type("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == f"functions.{name}.handler.handler"
    ]
    return synth.asset_dir(fn["Code"]["S3Key"])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_asset_holds_only_its_folder_and_shared(dev: Synth, name: str) -> None:
    files = _files(_code_dir(dev, name))
    allowed = ("functions/__init__.py", f"functions/{name}/", "shared/")
    assert [f for f in files if not f.startswith(allowed)] == []
    assert "functions/__init__.py" in files
    assert f"functions/{name}/handler.py" in files
    assert "shared/__init__.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_asset_holds_all_of_shared(dev: Synth, name: str) -> None:
    shipped = {f for f in _files(_code_dir(dev, name)) if f.startswith("shared/")}
    source = {f"shared/{f}" for f in _files(assets.REPO_ROOT / "shared") if "__pycache__" not in f}
    assert shipped == {f for f in source if not f.endswith(".pyc") and not Path(f).name.startswith(".")}


def test_layer_asset_is_the_built_dependencies(dev: Synth) -> None:
    (layer,) = dev.of_type("AWS::Lambda::LayerVersion").values()
    files = _files(dev.asset_dir(layer["Properties"]["Content"]["S3Key"]))
    assert files and all(f.startswith("python/") for f in files)
    assert any(f.startswith("python/aws_lambda_powertools/") for f in files)
    assert not [f for f in files if "__pycache__" in f]


def test_missing_layer_says_to_run_make_deps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(assets, "LAYER_DIR", tmp_path / "no-layer")
    with pytest.raises(FileNotFoundError, match="make deps"):
        assets.layer_code()


def test_function_assets_are_deterministic(dev: Synth, prod: Synth) -> None:
    # The asset hash is the content's: the same code gives the same key in every stage and run.
    for name in FUNCTIONS:
        assert _code_dir(dev, name).name == _code_dir(prod, name).name
    assert len({_code_dir(dev, name).name for name in FUNCTIONS}) == len(FUNCTIONS)
