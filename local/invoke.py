"""Invoke one function locally with a sample event, as Lambda would.

    python -m local.invoke earn events/earn_order_completed.json

Uses the DynamoDB of a running ``make run`` (127.0.0.1:8000) if there is one; otherwise starts
DynamoDB Local in memory for this invocation, with the tables and default program loaded.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

from local import dynamodb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", help="earn, redeem, member_reads, program_admin or tier_job")
    parser.add_argument("event", type=Path, help="an API Gateway v2 or scheduled event JSON file (see events/)")
    parser.add_argument("--dynamodb-port", type=int, default=8000)
    args = parser.parse_args(argv)

    event = json.loads(args.event.read_text())
    from infra.local_manifest import synth_manifest
    from local.engine import LambdaContext, prepare

    manifest = synth_manifest("dev")
    by_name = {spec["name"]: fid for fid, spec in manifest["functions"].items()}
    if args.function not in by_name:
        parser.error(f"unknown function {args.function!r}; one of {', '.join(sorted(by_name))}")

    with socket.socket() as probe:
        running = probe.connect_ex(("127.0.0.1", args.dynamodb_port)) == 0
    process = None if running else dynamodb.start(port := dynamodb.free_port())
    endpoint = f"http://127.0.0.1:{args.dynamodb_port if running else port}"
    spec = manifest["functions"][by_name[args.function]]
    result: object
    try:
        handlers = prepare(manifest, endpoint, events_echo=True)
        handler = handlers[by_name[args.function]]
        context = lambda: LambdaContext(args.function, timeout_s=int(spec["timeout"]))  # noqa: E731
        if args.function.endswith("_job"):
            from local.job import run_job

            result = run_job(handler, event, context)  # continuations run in-process
        else:
            result = handler(event, context())
    finally:
        if process is not None:
            dynamodb.stop(process)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
