"""The bench command runs end to end: every figure module, at tiny sizes (``--smoke``).

The figures themselves are read by people (``make bench``), not asserted: these machines are
too noisy for timed tests. What is asserted is that each module still drives the engine as it
is now (a new route, scope or transaction item must not break the bench unnoticed) and prints
a figure line with its reference for each of the issue's figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.xdist_group("bench")
def test_every_bench_figure_module_runs_at_smoke_sizes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for title in ("requests and capacity", "Warm handler latency", "handler import", "Hot member", "scheduled jobs"):
        assert title.lower() in out.lower(), (title, out[-2000:])
    for figure in (
        "earn (order_completed): requests",
        "redeem: requests",
        "snapshot read: requests",
        "earn p50",
        "redeem p99",
        "snapshot read p50",
        "import earn handler",
        "modules shipped with current 3.12 bytecode",
        "earn package + layer",
        "8 writers, 1 member",
        "retries per hot write",
        "tier: items read per due member",
        "expiry: items read per due member",
    ):
        assert figure in out, (figure, out[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "5 figure modules" in out
