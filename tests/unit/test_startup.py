"""Every handler loads with the garbage collector off, then freezes what it loaded and turns it on.

A handler module that forgot ``shared.startup.loaded()`` would leave the collector off for the
container's life (cyclic garbage never freed); one imported outside ``functions`` would pay
the collections. Each handler is imported in a fresh interpreter, as Lambda does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(f"functions.{p.parent.name}.handler" for p in (ROOT / "functions").glob("*/handler.py"))

PROBE = """
import gc, json, sys
before = [s["collections"] for s in gc.get_stats()]
import {module}
after = [s["collections"] for s in gc.get_stats()]
during = [a - b for a, b in zip(after, before)]
print(json.dumps({{"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(), "during": during}}))
"""


def test_every_function_has_a_handler_module() -> None:
    assert len(HANDLERS) == 7, HANDLERS


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    # With bytecode, as shipped: compiling a module from source allocates before its first line
    # runs, so a missing functions/__init__ bytecode would show a collection that Lambda never sees.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "functions", "shared"], cwd=ROOT, check=True)
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("module", HANDLERS)
def test_handler_loads_without_collections_then_freezes_and_collects_again(module: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["during"] == [0, 0, 0]  # no collection of any generation while the handler loaded
    assert probe["enabled"] is True
    assert probe["frozen"] > 10_000  # everything loading made is out of later collections' reach
