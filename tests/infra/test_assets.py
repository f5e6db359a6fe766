"""What ships: each function's asset holds its own folder and shared/ only; the layer holds python/;
both with current CPython 3.12 bytecode for every module (Lambda's code folders are read-only:
without it every cold start compiles every module from source)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from infra import assets, bytecode

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
    allowed = (
        "functions/__init__.py",
        f"functions/__pycache__/__init__.{bytecode.TAG}.pyc",
        f"functions/{name}/",
        "shared/",
    )
    assert [f for f in files if not f.startswith(allowed)] == []
    assert "functions/__init__.py" in files
    assert f"functions/{name}/handler.py" in files
    assert "shared/__init__.py" in files
    # bytecode: exactly one 3.12 .pyc per module, nothing else
    sources = [f for f in files if f.endswith(".py")]
    compiled = [f for f in files if f.endswith(".pyc")]
    expected = [str(Path(f).parent / "__pycache__" / f"{Path(f).stem}.{bytecode.TAG}.pyc") for f in sources]
    assert sorted(compiled) == sorted(expected)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_asset_holds_all_of_shared(dev: Synth, name: str) -> None:
    shipped = {f for f in _files(_code_dir(dev, name)) if f.startswith("shared/")}
    shipped = {f for f in shipped if "__pycache__" not in f}
    source = {f"shared/{f}" for f in _files(assets.REPO_ROOT / "shared") if "__pycache__" not in f}
    assert shipped == {f for f in source if not f.endswith(".pyc") and not Path(f).name.startswith(".")}


def test_shipped_bytecode_is_current_and_loads_in_python_3_12(dev: Synth) -> None:
    # CPython 3.12 itself checks each .pyc: its magic number, checked-hash flag, the hash of
    # the source beside it, and that it unmarshals to a code object.
    report = bytecode.run("verify", _code_dir(dev, "earn"), _code_dir(dev, "tier_job"))
    assert report["python"].startswith("3.12.") and report["magic"] == "cb0d0d0a"
    assert report["sources"] > 20 and report["current"] == report["sources"], report["problems"]


def test_stale_bytecode_is_found_out(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("VALUE = 1\n")
    assert bytecode.run("compile", tmp_path)["compiled"] == 1
    assert bytecode.run("verify", tmp_path)["current"] == 1
    module.write_text("VALUE = 2\n")  # edited after compiling: 3.12 would ignore that .pyc
    with pytest.raises(RuntimeError, match="out of date"):
        bytecode.run("verify", tmp_path)


def test_compiled_tree_is_cached_by_content_and_old_trees_go(tmp_path: Path) -> None:
    first = bytecode.compiled_tree([assets.REPO_ROOT / "shared"], tmp_path)
    assert bytecode.compiled_tree([assets.REPO_ROOT / "shared"], tmp_path) == first
    assert (first / "shared" / "__pycache__" / f"rules.{bytecode.TAG}.pyc").is_file()
    for n in range(bytecode.KEEP + 2):  # trees of earlier source versions
        (tmp_path / f"old{n:02d}").mkdir()
    bytecode._prune(tmp_path, keep=bytecode.KEEP)
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == bytecode.KEEP


def test_layer_asset_is_the_built_dependencies(dev: Synth) -> None:
    (layer,) = dev.of_type("AWS::Lambda::LayerVersion").values()
    files = _files(dev.asset_dir(layer["Properties"]["Content"]["S3Key"]))
    assert files and all(f.startswith("python/") for f in files)
    assert any(f.startswith("python/aws_lambda_powertools/") for f in files)
    # 3.12 bytecode for every module (`make deps` compiled it), and no other Python's
    compiled = [f for f in files if f.endswith(".pyc")]
    assert compiled and all(f.endswith(f".{bytecode.TAG}.pyc") for f in compiled)
    assert len(compiled) == len([f for f in files if f.endswith(".py")])


def test_missing_layer_says_to_run_make_deps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(assets, "LAYER_DIR", tmp_path / "no-layer")
    with pytest.raises(FileNotFoundError, match="make deps"):
        assets.layer_code()


def test_function_assets_are_deterministic(dev: Synth, prod: Synth) -> None:
    # The asset hash is the content's: the same code gives the same key in every stage and run.
    for name in FUNCTIONS:
        assert _code_dir(dev, name).name == _code_dir(prod, name).name
    assert len({_code_dir(dev, name).name for name in FUNCTIONS}) == len(FUNCTIONS)
