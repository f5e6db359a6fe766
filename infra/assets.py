"""Lambda code and layer assets, staged offline from the working tree.

Each function's asset is a folder holding exactly ``functions/__init__.py``,
``functions/<name>/`` and ``shared/``, with CPython 3.12 bytecode for the runtime
(``infra/bytecode.py``: compiled once per source content, cached under ``.build/bytecode``),
copied into a staging folder of this process. Copying, rather than filtering the repository
root with exclude globs, keeps the result independent of where the repository lies: CDK's glob
excludes misbehaved when a parent folder's name contained a dot (``/tmp/tmp.x1y2/``), shipping
empty assets. The asset hash is of the content, so the staging folder's name never reaches the
template.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

from infra import bytecode
from infra.constants import LAYER_DIR, REPO_ROOT

_STAGING_ROOT = REPO_ROOT / ".build" / "assets"
_BYTECODE_CACHE = REPO_ROOT / ".build" / "bytecode"
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
    """A folder holding ``functions/__init__.py``, ``functions/<name>/`` and ``shared/`` (their
    ``.py`` files and 3.12 bytecode), nothing else."""
    source = bytecode.compiled_tree([REPO_ROOT / "functions", REPO_ROOT / "shared"], _BYTECODE_CACHE)
    target = _staging_dir() / function_name
    shutil.rmtree(target, ignore_errors=True)
    (target / "functions" / "__pycache__").mkdir(parents=True)
    for name in ("__init__.py", f"__pycache__/__init__.{bytecode.TAG}.pyc"):
        shutil.copy2(source / "functions" / name, target / "functions" / name)
    shutil.copytree(source / "functions" / function_name, target / "functions" / function_name)
    shutil.copytree(source / "shared", target / "shared")
    return target


def function_code(function_name: str) -> lambda_.Code:
    """Code asset holding ``functions/__init__.py``, ``functions/<name>/`` and ``shared/``."""
    return lambda_.Code.from_asset(str(stage_function(function_name)))


def layer_code() -> lambda_.Code:
    """The dependency layer (``.build/layer/python/...``) built by ``make deps``."""
    if not (LAYER_DIR / "python").is_dir():
        raise FileNotFoundError(f"Lambda dependency layer not found at {LAYER_DIR}/python: run `make deps` to build it")
    # ".*" drops make's .installed marker; the bytecode is the 3.12 one `make deps` wrote.
    return lambda_.Code.from_asset(str(LAYER_DIR), exclude=[".*"])
