"""Run a scheduled job locally, as EventBridge Scheduler and the job function would at time T.

    python -m local.job tier --time 2027-03-05T00:10:00+08:00                  # every program due at T
    python -m local.job tier --time 2027-03-05T00:10:00+08:00 --program shop2  # one program
    python -m local.job tier --time ... --dynamodb-port 8100   # the database of `make run DYNAMODB_PORT=8100`

Without --program the event is the job's schedule input from the synthesized template with the
scheduled time filled in, so a local run and a deployed one get the same event: the function
lists the program registry and runs the job of every program whose local time at T is in the
job's hour (00:xx), each in its own time zone, as the hourly schedule does in AWS. With
--program the event names that program, as the dispatch does, and it runs whatever the hour:
any program stored in the database, shipped (config/programs) or created with PUT.

The database: with --dynamodb-port P, the DynamoDB Local listening on 127.0.0.1:P; if nothing
listens there the job refuses to run (it never falls back to another database). Without it,
the one of a running `make run` on 127.0.0.1:8000 if there is one, otherwise a throwaway
in-memory one for this run holding only the shipped programs (stderr says which). A run that
stops near its time limit continues in-process, as the deployed function continues itself.
Published events are appended to ``.local/events.jsonl`` and printed.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local import dynamodb

if TYPE_CHECKING:
    from shared.store import RegisteredProgram

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
DEFAULT_DYNAMODB_PORT = 8000
"""Where `make run` puts DynamoDB Local unless told otherwise (``DYNAMODB_PORT``)."""


def scheduled_event(
    manifest: dict[str, Any], job: str, program_id: str | None, at: datetime
) -> tuple[str, dict[str, Any]]:
    """(function logical id, event) of the job's schedule fired at ``at``.

    ``program_id`` ``None``: the schedule's own input (the function dispatches to every program
    whose local time is in the job's hour); otherwise the event the dispatch sends to run that
    program.
    """
    from shared import clock

    for schedule in manifest["schedules"]:
        if schedule["input"].get("detail", {}).get("job") == job:
            event = json.loads(json.dumps(schedule["input"]).replace(SCHEDULED_TIME, clock.format_utc(at)))
            if program_id is not None:
                event["detail"] = {"job": job, "program_id": program_id}
            return schedule["function"], event
    known = sorted({s["input"]["detail"]["job"] for s in manifest["schedules"]})
    raise LookupError(f"no schedule for job {job!r}; known jobs: {', '.join(known)}")


def run_job(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    event: dict[str, Any],
    context_factory: Callable[[], Any],
    max_invocations: int = 10_000,
) -> list[dict[str, Any]]:
    """Invoke the job's handler, then each invocation it asks for (continuations, and the program
    runs a dispatch starts); the reports, in order."""
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


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def add_dynamodb_port_argument(parser: argparse.ArgumentParser) -> None:
    """``--dynamodb-port``, as every local tool that talks to a running engine takes it."""
    parser.add_argument(
        "--dynamodb-port",
        type=int,
        help="the port of the running engine's DynamoDB Local (`make run DYNAMODB_PORT=...`); refused if"
        f" nothing listens there. Default: {DEFAULT_DYNAMODB_PORT} if a `make run` listens there, else a"
        " throwaway database",
    )


@contextmanager
def database(port: int | None) -> Iterator[str]:
    """The endpoint of the DynamoDB Local a local tool works on (``local.job``, ``local.invoke``).

    ``port`` given: the one listening there, or a clear refusal (``SystemExit``) if none is.
    ``None``: a running `make run`'s on the default port, else a throwaway in-memory one,
    started here and stopped on exit; stderr says which.
    """
    if port is not None:
        if not _listening(port):
            raise SystemExit(
                f"nothing listens on 127.0.0.1:{port}: start the engine there first"
                f" (`make run DYNAMODB_PORT={port}`), or leave DYNAMODB_PORT out to use"
                f" the `make run` on {DEFAULT_DYNAMODB_PORT} or a throwaway database"
            )
        print(f"using the DynamoDB Local on 127.0.0.1:{port}", file=sys.stderr, flush=True)
        yield f"http://127.0.0.1:{port}"
        return
    if _listening(DEFAULT_DYNAMODB_PORT):
        print(
            f"using the DynamoDB Local on 127.0.0.1:{DEFAULT_DYNAMODB_PORT} (`make run`;"
            " DYNAMODB_PORT=<port> for another)",
            file=sys.stderr,
            flush=True,
        )
        yield f"http://127.0.0.1:{DEFAULT_DYNAMODB_PORT}"
        return
    free = dynamodb.free_port()
    print(
        f"no DynamoDB Local on 127.0.0.1:{DEFAULT_DYNAMODB_PORT} (no `make run`): using a throwaway"
        " in-memory one holding only the shipped programs; DYNAMODB_PORT=<port> for a running engine's",
        file=sys.stderr,
        flush=True,
    )
    process = dynamodb.start(free)
    try:
        yield f"http://127.0.0.1:{free}"
    finally:
        dynamodb.stop(process)


def prepare_engine(manifest: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """``local.engine.prepare`` (tables, the shipped programs, handlers), then the shipped programs
    in the program registry; a clear error if ``endpoint`` does not answer as DynamoDB."""
    from botocore.exceptions import BotoCoreError, ClientError

    from local.engine import prepare

    try:
        handlers = prepare(manifest, endpoint, events_echo=True)
        register_shipped_programs()
    except (BotoCoreError, ClientError) as exc:
        raise SystemExit(f"{endpoint} does not answer as DynamoDB Local: {exc}") from exc
    return handlers


def register_shipped_programs() -> None:
    """Make sure each program loaded from config/programs is in the program registry.

    Storing a program's config registers it (``store.save_program``); a database kept from before
    the registry (``--persist``) holds the shipped program unchanged, so nothing stored it again.
    """
    from local.engine import DEFAULT_PROGRAM_FILE
    from shared import store

    program_id = DEFAULT_PROGRAM_FILE.stem
    program = store.get_program(program_id)
    if program is not None:
        store.register_program(program_id, program.config.time_zone, datetime.now(tz=UTC))


def registered_programs() -> list[RegisteredProgram]:
    """Every program of the registry, in id order."""
    from shared import store

    programs: list[RegisteredProgram] = []
    after = None
    while True:
        page = store.list_programs(after=after)
        programs.extend(page.programs)
        if not page.more or not page.programs:
            return programs
        after = page.programs[-1].program_id


def _dispatch_note(reports: list[dict[str, Any]], at: datetime) -> str | None:
    """What to tell a user whose dispatch started nothing: each program's local time at ``at``."""
    from shared import clock

    dispatch = reports[0]
    if not dispatch.get("dispatch") or dispatch["started"]:
        return None
    hour = dispatch["local_hour"]
    programs = registered_programs()
    if not programs:
        return "no program in the registry: nothing to run"
    local = ", ".join(
        f"{p.program_id} ({p.time_zone}): {at.astimezone(clock.zone(p.time_zone)):%Y-%m-%d %H:%M}" for p in programs
    )
    return (
        f"no program's local time at {clock.format_utc(at)} is in the job's hour ({hour:02d}:00-{hour:02d}:59);"
        f" local times: {local}. Choose TIME in a program's hour, or run one whatever the hour with --program"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", help="the job's name, e.g. tier")
    parser.add_argument("--time", required=True, help="the scheduled time, RFC 3339 with an offset")
    parser.add_argument(
        "--program",
        help="run this program's job whatever its local hour (default: every program whose local time"
        " at --time is in the job's hour, as the hourly schedule does)",
    )
    add_dynamodb_port_argument(parser)
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)

    from infra.local_manifest import synth_manifest
    from local.engine import LambdaContext
    from shared import clock, store

    try:
        at = clock.parse_utc(args.time)
    except ValueError:
        parser.error("--time: must be RFC 3339 with an offset, e.g. 2027-03-05T00:10:00+08:00")
    with database(args.dynamodb_port) as endpoint:  # first: a wrong port is said before the synth
        manifest = synth_manifest(args.stage)
        try:
            function_id, event = scheduled_event(manifest, args.job, args.program, at)
        except LookupError as exc:
            parser.error(str(exc))
        spec = manifest["functions"][function_id]
        handlers = prepare_engine(manifest, endpoint)
        if args.program is not None and store.get_program(args.program) is None:
            known = ", ".join(p.program_id for p in registered_programs()) or "none"
            raise SystemExit(f"program {args.program!r} is not stored in the DynamoDB at {endpoint}; programs: {known}")
        reports = run_job(
            handlers[function_id], event, lambda: LambdaContext(spec["name"], timeout_s=int(spec["timeout"]))
        )
        note = _dispatch_note(reports, at)
    for report in reports:
        print(json.dumps(report))
    if note:
        print(note, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
