"""Every benchmark figure, each printed with the reference it is compared with (same run).

    make bench                       # or: .venv/bin/python -m bench
    .venv/bin/python -m bench --large            # the large sizes (longer runs)
    .venv/bin/python -m bench --only latency hot_member
    .venv/bin/python -m bench --smoke            # tiny sizes: every figure runs (tests do this)

Starts a throwaway DynamoDB Local, wires the engine to it as ``make run`` does, and runs the
figure modules in ``FIGURES`` in order. A module is ``TITLE`` + ``run(ctx) -> list[Figure]``
(see ``bench/context.py``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import warnings
from typing import TextIO

from bench.context import Context, Figure

FIGURES = [
    "bench.requests",  # DynamoDB requests and capacity per operation vs the floor of 1
    "bench.latency",  # warm handler p50/p99 vs the bare DynamoDB calls it makes
    "bench.cold_start",  # handler module import vs `import boto3`; deployment package sizes
    "bench.hot_member",  # writes/s on one member with 8 writers, retries
    "bench.jobs",  # tier and expiry jobs: items read per due member and members/s at 10k and 100k
]


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def report(title: str, figures: list[Figure]) -> None:
    print(f"\n== {title}")
    width = max(len(f.name) for f in figures) if figures else 10
    print(f"{'figure':{width}}  {'measured':>12}  {'reference':>22}  {'ratio':>6}  {'goal':>6}")
    for f in figures:
        reference = f"{_number(f.reference)} {f.reference_name}".strip() if f.reference is not None else "-"
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "-"
        goal = f"<= {f.goal:g}" if f.goal is not None else ""
        print(
            f"{f.name:{width}}  {_number(f.value):>7} {f.unit:<6}  {reference:>22}  {ratio:>6}  {goal:>6} {f.verdict}"
        )
        if f.note:
            print(f"{'':{width}}    {f.note}")


class _WithoutMetricLines:
    """stdout without Powertools' metric lines: with metrics disabled it still prints its
    buffer every 100 values (an EMF JSON line), which would cut through the tables."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.dropped = False

    def write(self, text: str) -> int:
        if text.startswith('{"_aws"') or (self.dropped and text == "\n"):
            self.dropped = not self.dropped
            return len(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="the large sizes (longer runs, more members)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: every figure runs (numbers mean nothing)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="figure modules to run (e.g. latency requests)")
    args = parser.parse_args(argv)
    names = [m for m in FIGURES if not args.only or m.rsplit(".", 1)[1] in args.only]
    if not names:
        parser.error(f"no figure module called {args.only}; there are {[m.rsplit('.', 1)[1] for m in FIGURES]}")
    # Metrics stay off locally (no CloudWatch); Powertools warns at each flush that none were sent.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    sys.stdout = _WithoutMetricLines(sys.stdout)
    started = time.monotonic()
    ctx = Context(large=args.large, smoke=args.smoke).start()
    try:
        for name in names:
            module = importlib.import_module(name)
            begun = time.monotonic()
            figures = module.run(ctx)
            report(f"{module.TITLE}  [{time.monotonic() - begun:.0f} s]", figures)
    finally:
        ctx.stop()
    sizes = "large" if args.large else "smoke" if args.smoke else "default"
    print(f"\n{len(names)} figure modules in {time.monotonic() - started:.0f} s ({sizes} sizes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
