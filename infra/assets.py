"""Lambda code and layer assets, staged offline from the working tree.

Each function's asset is the repository root filtered by glob patterns: everything is
excluded, then ``functions/__init__.py``, ``functions/<name>/`` and ``shared/`` are
re-included, then bytecode caches are dropped again. CDK walks the tree top-down and
skips excluded folders entirely, so ``.venv`` and ``node_modules`` are never read, and the
asset hash depends only on the files that ship: no copy step, no Docker, no network.
"""

from aws_cdk import aws_lambda as lambda_

from infra.constants import LAYER_DIR, REPO_ROOT

# Bytecode differs between machines and Python versions; it would break determinism.
_BYTECODE = ("__pycache__", "*.pyc")


def function_asset_excludes(function_name: str) -> list[str]:
    """Glob patterns (CDK GLOB mode, last match wins) that leave only one function's code."""
    return [
        # Patterns without a slash match a file's base name at any depth; "*" skips dotfiles.
        "*",
        ".*",
        "!functions",
        "!functions/__init__.py",
        f"!functions/{function_name}",
        f"!functions/{function_name}/**",
        "!shared",
        "!shared/**",
        *_BYTECODE,
    ]


def function_code(function_name: str) -> lambda_.Code:
    """Code asset holding ``functions/__init__.py``, ``functions/<name>/`` and ``shared/``."""
    return lambda_.Code.from_asset(str(REPO_ROOT), exclude=function_asset_excludes(function_name))


def layer_code() -> lambda_.Code:
    """The dependency layer (``.build/layer/python/...``) built by ``make deps``."""
    if not (LAYER_DIR / "python").is_dir():
        raise FileNotFoundError(f"Lambda dependency layer not found at {LAYER_DIR}/python: run `make deps` to build it")
    # ".*" drops make's .installed marker; bytecode from the build machine is useless on 3.12.
    return lambda_.Code.from_asset(str(LAYER_DIR), exclude=[".*", *_BYTECODE])
