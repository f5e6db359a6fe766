"""Cold start: each function's handler module import time vs ``import boto3``; package sizes.

Each import runs in a fresh interpreter (``python -c``), timed around the import statement
only, repeated and alternated with the reference; medians are compared. The reference is
``import boto3`` in the same kind of fresh interpreter: the import every Python Lambda
tutorial starts with. Goal: the handler under 1.5x.

Two conditions: with bytecode caches (the repository's interpreter has compiled every
module before), which is how the function assets and the layer ship (CPython 3.12 bytecode,
``infra/bytecode.py``), and without any (``-B`` and an empty ``PYTHONPYCACHEPREFIX``: every
module compiled from source), which is what a package without bytecode costs on Lambda's
read-only file system at every cold start; boto3 keeps its bytecode in both (the runtime ships
it so). This machine's Python (3.11) runs the imports: the shipped 3.12 bytecode is checked
for being there and current, not timed.

Floors, timed the same way, show how much of a handler's import is the chosen stack's before
a line of the engine runs: PynamoDB alone (it loads botocore, as boto3 does); what every job
needs (PynamoDB and pydantic building one model: the program config is a pydantic model);
what every API handler needs (that, plus Powertools' logger, metrics and resolver with
validation). They load as the handlers do, with the garbage collector off
(``functions/__init__.py``); ``import boto3`` loads as any script does. Each handler's line
says how far above its floor it is: that part is the engine's own (its models, rules, routes).

Package sizes: each function's staged asset (``infra.assets.stage_function``) and the shared
dependency layer (``.build/layer``), unzipped and zipped, against Lambda's limits (250 MB
unzipped for a function and its layers; 50 MB zipped for a direct upload).
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench.context import Context, Figure
from local.dynamodb import ROOT

TITLE = "Cold start: handler import vs `import boto3` (goal: < 1.5x); deployment package sizes"
MB = 1024 * 1024


def _environment(ctx: Context, function_id: str, bytecode: bool, cache: Path) -> dict[str, str]:
    from local.engine import function_environment

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(function_environment(ctx.manifest, function_id))
    env.update({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT)})
    if not bytecode:
        env.update({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(cache)})
    return env


_PYNAMODB = "import pynamodb.models, pynamodb.transactions"
_PYDANTIC_MODEL = "import pydantic; pydantic.create_model('Floor', x=(int, ...))"
_POWERTOOLS = (
    "import aws_lambda_powertools.logging, aws_lambda_powertools.metrics, aws_lambda_powertools.event_handler,"
    " aws_lambda_powertools.event_handler.openapi.params"
)
API_FLOOR = "floor: the API stack, no engine code"
JOB_FLOOR = "floor: the job stack, no engine code"
_AS_HANDLERS_LOAD = "import gc; gc.disable()"  # as functions/__init__.py does before any handler
FLOORS = {
    "floor: PynamoDB alone": f"{_AS_HANDLERS_LOAD}; {_PYNAMODB}",
    JOB_FLOOR: f"{_AS_HANDLERS_LOAD}; {_PYNAMODB}; {_PYDANTIC_MODEL}",
    API_FLOOR: f"{_AS_HANDLERS_LOAD}; {_PYNAMODB}; {_POWERTOOLS}; {_PYDANTIC_MODEL}",
}
"""Imports (and one model build) of the chosen stack alone, named by what they stand for,
loaded as the handlers load (collector off)."""


def import_seconds(module: str, env: dict[str, str]) -> float:
    """Seconds to import ``module`` (or run an ``import ...`` statement) in a fresh interpreter."""
    statement = module if module.startswith("import ") else f"import {module}"  # a floor's statements
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _sizes(folder: Path) -> tuple[int, int]:
    """(unzipped, zipped) bytes of ``folder``'s files, bytecode included, dot-files left out as in the assets."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return sum(p.stat().st_size for p in files), buffer.tell()


def run(ctx: Context) -> list[Figure]:
    repeats = 15 if ctx.large else 1 if ctx.smoke else 7
    functions = {spec["name"]: function_id for function_id, spec in ctx.manifest["functions"].items()}
    modules = {name: ctx.manifest["functions"][fid]["handler"].rpartition(".")[0] for name, fid in functions.items()}
    figures: list[Figure] = []
    for bytecode in (True, False):
        runs = repeats if bytecode else max(1 if ctx.smoke else 3, repeats // 2)
        floors = FLOORS if bytecode else {}  # the floors are third-party code: shipped with bytecode
        times: dict[str, list[float]] = {name: [] for name in [*modules, *floors, "boto3"]}
        any_function = next(iter(functions.values()))
        with tempfile.TemporaryDirectory(prefix="bench-pyc-") as scratch:
            for attempt in range(runs):
                for name, module in [*modules.items(), *floors.items(), ("boto3", "boto3")]:
                    cache = Path(scratch) / f"{name}-{attempt}"  # empty: nothing cached
                    # boto3 keeps its bytecode in both conditions: the Lambda runtime ships it so.
                    keep = bytecode or name == "boto3"
                    env = _environment(ctx, functions.get(name, any_function), keep, cache)
                    times[name].append(import_seconds(module, env))
        reference = statistics.median(times["boto3"]) * 1000
        condition = "with bytecode (as shipped)" if bytecode else "no bytecode (if not shipped)"
        for name in floors:
            figures.append(
                Figure(
                    name,
                    statistics.median(times[name]) * 1000,
                    "ms",
                    reference,
                    "ms boto3",
                    goal=1.5,
                    note="every API handler imports at least this" if name == API_FLOOR else "",
                )
            )
        for name in modules:
            median = statistics.median(times[name]) * 1000
            notes = [f"median of {runs}; {modules[name]}"] if name == next(iter(modules)) else []
            if floors:
                kind, floor = ("job", JOB_FLOOR) if name.endswith("_job") else ("API", API_FLOOR)
                above = median - statistics.median(times[floor]) * 1000
                notes.append(f"{above:+.0f} ms against the {kind} stack floor")
            figures.append(
                Figure(
                    f"import {name} handler, {condition}",
                    median,
                    "ms",
                    reference,
                    "ms boto3",
                    goal=1.5,
                    note="; ".join(notes),
                )
            )

    from infra import bytecode as shipped
    from infra.assets import stage_function
    from infra.constants import LAYER_DIR

    folders = [stage_function(name) for name in modules]
    report = shipped.run("verify", LAYER_DIR / "python", *folders)
    figures.append(
        Figure(
            "modules shipped with current 3.12 bytecode",
            report["current"],
            "modules",
            report["sources"],
            "modules",
            note=f"layer and {len(folders)} function assets, checked by CPython {report['python']}",
        )
    )
    layer_unzipped, layer_zipped = _sizes(LAYER_DIR)
    figures.append(Figure("layer (.build/layer)", layer_unzipped / MB, "MB", note=f"zipped {layer_zipped / MB:.1f} MB"))
    for name in modules:
        unzipped, zipped = _sizes(stage_function(name))
        figures.append(
            Figure(
                f"{name} package + layer, unzipped",
                (unzipped + layer_unzipped) / MB,
                "MB",
                250.0,
                "MB limit",
                goal=1.0,
                note=f"function asset {unzipped / 1024:.0f} KB unzipped, {zipped / 1024:.0f} KB zipped",
            )
        )
    return figures
