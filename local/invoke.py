"""Invoke one function locally with a sample event, as Lambda would.

    python -m local.invoke earn events/earn_order_completed.json
    python -m local.invoke tier_job events/tier_job_scheduled.json --dynamodb-port 8100

The database, as for ``local.job``: with --dynamodb-port P (``make invoke DYNAMODB_PORT=P``) the
DynamoDB Local of the engine running there, refused if nothing listens there; without it, the
one of a running ``make run`` on 127.0.0.1:8000 if there is one, otherwise a throwaway in-memory
one for this invocation with the tables and shipped programs loaded. A job's continuations and
the program runs its dispatch starts run in-process.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from local.job import add_dynamodb_port_argument, database, prepare_engine, run_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", help="earn, redeem, member_reads, program_admin, tier_job or expiry_job")
    parser.add_argument("event", type=Path, help="an API Gateway v2 or scheduled event JSON file (see events/)")
    add_dynamodb_port_argument(parser)
    args = parser.parse_args(argv)

    event = json.loads(args.event.read_text())
    from infra.local_manifest import synth_manifest
    from local.engine import LambdaContext

    result: object
    with database(args.dynamodb_port) as endpoint:  # first: a wrong port is said before the synth
        manifest = synth_manifest("dev")
        by_name = {spec["name"]: fid for fid, spec in manifest["functions"].items()}
        if args.function not in by_name:
            parser.error(f"unknown function {args.function!r}; one of {', '.join(sorted(by_name))}")
        spec = manifest["functions"][by_name[args.function]]
        handler = prepare_engine(manifest, endpoint)[by_name[args.function]]
        context = lambda: LambdaContext(args.function, timeout_s=int(spec["timeout"]))  # noqa: E731
        # A job's continuations and dispatched runs run in-process, one report each.
        result = run_job(handler, event, context) if args.function.endswith("_job") else handler(event, context())
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
