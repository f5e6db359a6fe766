"""Run a scheduled job locally, as EventBridge Scheduler would at time T.

    python -m local.job tier --time 2027-03-05T00:10:00+08:00 [--program default]

The event is the schedule's own input from the synthesized template with the scheduled time
filled in, so a local run and a deployed one get the same event. Uses the DynamoDB of a running
``make run`` (127.0.0.1:8000) if there is one, otherwise an in-memory one for this run. A run
that stops near its time limit continues in-process, as the deployed function continues itself.
Published events are appended to ``.local/events.jsonl`` and printed.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from local import dynamodb

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


def scheduled_event(manifest: dict[str, Any], job: str, program_id: str, at: datetime) -> tuple[str, dict[str, Any]]:
    """(function logical id, event) of the job's schedule for ``program_id``, fired at ``at``."""
    from shared import clock

    for schedule in manifest["schedules"]:
        detail = schedule["input"].get("detail", {})
        if detail.get("job") == job and detail.get("program_id") == program_id:
            text = json.dumps(schedule["input"]).replace(SCHEDULED_TIME, clock.format_utc(at))
            return schedule["function"], json.loads(text)
    known = sorted({(s["input"]["detail"]["job"], s["input"]["detail"]["program_id"]) for s in manifest["schedules"]})
    raise LookupError(f"no schedule for job {job!r} and program {program_id!r}; known: {known}")


def run_job(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    event: dict[str, Any],
    context_factory: Callable[[], Any],
    max_invocations: int = 10_000,
) -> list[dict[str, Any]]:
    """Invoke the job's handler, then each continuation it asks for; the reports, in order."""
    from shared import job_handler

    queue: list[dict[str, Any]] = [event]
    reports: list[dict[str, Any]] = []
    previous = job_handler.continuer
    job_handler.continuer = lambda next_event, _context: queue.append(next_event)
    try:
        while queue and len(reports) < max_invocations:
            reports.append(handler(queue.pop(0), context_factory()))
    finally:
        job_handler.continuer = previous
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", help="the job's name, e.g. tier")
    parser.add_argument("--time", required=True, help="the scheduled time, RFC 3339 with an offset")
    parser.add_argument("--program", default="default")
    parser.add_argument("--dynamodb-port", type=int, default=8000)
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)

    from infra.local_manifest import synth_manifest
    from local.engine import LambdaContext, prepare
    from shared import clock

    try:
        at = clock.parse_utc(args.time)
    except ValueError:
        parser.error("--time: must be RFC 3339 with an offset, e.g. 2027-03-05T00:10:00+08:00")
    manifest = synth_manifest(args.stage)
    try:
        function_id, event = scheduled_event(manifest, args.job, args.program, at)
    except LookupError as exc:
        parser.error(str(exc))
    spec = manifest["functions"][function_id]

    with socket.socket() as probe:
        running = probe.connect_ex(("127.0.0.1", args.dynamodb_port)) == 0
    process = None if running else dynamodb.start(port := dynamodb.free_port())
    endpoint = f"http://127.0.0.1:{args.dynamodb_port if running else port}"
    try:
        handlers = prepare(manifest, endpoint, events_echo=True)
        reports = run_job(
            handlers[function_id], event, lambda: LambdaContext(spec["name"], timeout_s=int(spec["timeout"]))
        )
    finally:
        if process is not None:
            dynamodb.stop(process)
    for report in reports:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
