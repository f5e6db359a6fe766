"""CPython 3.12 bytecode for what ships to Lambda (``infra/bytecode.mjs`` writes it).

Lambda's code folders are read-only: a package without ``.pyc`` files is compiled from source
on every cold start, which costs seconds for Powertools, pydantic and botocore (``make bench``
measures it). The function assets and the dependency layer therefore ship checked-hash
bytecode for the runtime's Python (3.12) next to the sources, written by CPython 3.12 itself
(Pyodide, from the npm registry), whatever Python the build machine has.

Checked-hash bytecode (PEP 552) holds a hash of its source instead of a timestamp: the same
source gives the same bytes on every machine (asset hashes stay deterministic), and a
``.pyc`` whose source changed is ignored and the source compiled, never run stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from infra.constants import REPO_ROOT

SCRIPT = REPO_ROOT / "infra" / "bytecode.mjs"
TAG = "cpython-312"
"""The runtime's cache tag: ``__pycache__/<module>.cpython-312.pyc``."""


def run(mode: str, *folders: Path) -> dict[str, Any]:
    """``compile`` or ``verify`` every ``.py`` under ``folders``; the script's report."""
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "pyodide").is_dir():
        raise FileNotFoundError("node or node_modules/pyodide is missing: run `make deps` to install the Node tools")
    command = [node, str(SCRIPT), mode, *map(str, folders)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    lines = done.stdout.strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if done.returncode != 0:
        raise RuntimeError(f"bytecode {mode} failed for {folders}: {report or done.stderr[-2000:]}")
    return report


def compiled_tree(sources: list[Path], cache_root: Path) -> Path:
    """A copy of ``sources`` (folders and files under the repository) with 3.12 bytecode,
    cached by the sources' content: compiled once, reused by every later synth."""
    digest = hashlib.sha256()
    files = sorted(
        p
        for source in sources
        for p in ([source] if source.is_file() else source.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc" and not p.name.startswith(".")
    )
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    target = cache_root / digest.hexdigest()[:24]
    if target.is_dir():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=cache_root))
    for path in files:
        copy = scratch / path.relative_to(REPO_ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    run("compile", scratch)
    try:
        scratch.rename(target)  # atomic: a concurrent synth that got there first wins
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    _prune(cache_root, keep=KEEP)
    return target


KEEP = 8
"""Compiled trees kept: every edit of the sources makes a new one; the oldest go."""


def _prune(cache_root: Path, keep: int) -> None:
    trees = sorted(
        (p for p in cache_root.iterdir() if p.is_dir() and "-" not in p.name), key=lambda p: p.stat().st_mtime
    )
    for old in trees[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
