"""Lambda code and layer assets, staged offline from the working tree.

Each function's asset is a folder holding exactly ``functions/__init__.py``,
``functions/<name>/`` and ``shared/``, copied (without bytecode) into a staging folder of this
process. Copying, rather than filtering the repository root with exclude globs, keeps the
result independent of where the repository lies: CDK's glob excludes misbehaved when a parent
folder's name contained a dot (``/tmp/tmp.x1y2/``), shipping empty assets. The asset hash is
of the content, so the staging folder's name never reaches the template.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

from infra.constants import LAYER_DIR, REPO_ROOT

# Bytecode differs between machines and Python versions; it would break determinism.
_BYTECODE = ("__pycache__", "*.pyc")
_STAGING_ROOT = REPO_ROOT / ".build" / "assets"
_staging: Path | None = None


def _staging_dir() -> Path:
    # One folder per process: test workers and the local runner synthesize at the same time.
    global _staging
    if _staging is None:
        _STAGING_ROOT.mkdir(parents=True, exist_ok=True)
        _staging = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=_STAGING_ROOT))
        atexit.register(shutil.rmtree, _staging, True)
    return _staging


def stage_function(function_name: str) -> Path:
    """A folder holding ``functions/__init__.py``, ``functions/<name>/`` and ``shared/``, nothing else."""
    target = _staging_dir() / function_name
    shutil.rmtree(target, ignore_errors=True)
    ignore = shutil.ignore_patterns(*_BYTECODE)
    (target / "functions").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "functions" / "__init__.py", target / "functions" / "__init__.py")
    shutil.copytree(REPO_ROOT / "functions" / function_name, target / "functions" / function_name, ignore=ignore)
    shutil.copytree(REPO_ROOT / "shared", target / "shared", ignore=ignore)
    return target


def function_code(function_name: str) -> lambda_.Code:
    """Code asset holding ``functions/__init__.py``, ``functions/<name>/`` and ``shared/``."""
    return lambda_.Code.from_asset(str(stage_function(function_name)))


def layer_code() -> lambda_.Code:
    """The dependency layer (``.build/layer/python/...``) built by ``make deps``."""
    if not (LAYER_DIR / "python").is_dir():
        raise FileNotFoundError(f"Lambda dependency layer not found at {LAYER_DIR}/python: run `make deps` to build it")
    # ".*" drops make's .installed marker; bytecode from the build machine is useless on 3.12.
    return lambda_.Code.from_asset(str(LAYER_DIR), exclude=[".*", *_BYTECODE])
