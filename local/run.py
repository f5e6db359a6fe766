"""``make run``: DynamoDB Local on 127.0.0.1:8000 and the HTTP API on 127.0.0.1:3000.

Tables, routes and function settings come from the synthesized CDK app; the default program
is loaded from config/programs/default.json. Ctrl-C stops everything this started.

Auth is off by default (every request acts as a local operator); ``--auth`` (``make run
AUTH=1``) makes the gateway check bearer tokens and the routes' scopes as API Gateway does.
Mint tokens with ``make token`` (``python -m local.token``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from local import dynamodb
from local.dynamodb import ROOT


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=3000, help="HTTP API port (default 3000)")
    parser.add_argument("--dynamodb-port", type=int, default=8000, help="DynamoDB Local port (default 8000)")
    parser.add_argument("--stage", default="dev", help="CDK stage whose routes and tables to mirror")
    parser.add_argument("--persist", action="store_true", help="keep data in .local/dynamodb across restarts")
    parser.add_argument(
        "--auth", action="store_true", help="check bearer tokens (mint them with `make token`); off by default"
    )
    args = parser.parse_args(argv)

    for port, flag, variable in (
        (args.port, "--port", "PORT"),
        (args.dynamodb_port, "--dynamodb-port", "DYNAMODB_PORT"),
    ):
        if dynamodb.port_in_use(port):
            raise SystemExit(
                f"port {port} is in use (another `make run`?): stop it, or choose another port with"
                f" `make run {variable}=<port>` ({flag})"
            )
    started = time.monotonic()
    db_path = None
    if args.persist:
        db_path = ROOT / ".local" / "dynamodb"
        db_path.mkdir(parents=True, exist_ok=True)
    print(f"starting DynamoDB Local on 127.0.0.1:{args.dynamodb_port} ...", flush=True)
    database = dynamodb.start(args.dynamodb_port, db_path=db_path)
    try:
        from infra.local_manifest import synth_manifest
        from local.auth import AuthOff, GatewayAuth, LocalJwtAuthorizer
        from local.engine import prepare
        from local.gateway import compile_routes, make_server
        from local.job import DEFAULT_DYNAMODB_PORT, register_shipped_programs

        print(f"synthesizing the CDK app (stage {args.stage}) for tables and routes ...", flush=True)
        manifest = synth_manifest(args.stage)
        handlers = prepare(manifest, f"http://127.0.0.1:{args.dynamodb_port}")
        register_shipped_programs()  # a --persist database from before the program registry
        routes = compile_routes(manifest)
        auth: GatewayAuth = LocalJwtAuthorizer.from_manifest(manifest) if args.auth else AuthOff(manifest)
        server = make_server("127.0.0.1", args.port, routes, handlers, auth=auth)
        print(f"ready in {time.monotonic() - started:.1f} s; program 'default' loaded. Routes:", flush=True)
        for route in routes:
            scopes = " | ".join(route.scopes) if route.authorization == "JWT" else "open"
            print(
                f"  {route.method:5} http://127.0.0.1:{args.port}{route.path}  -> {route.name}  [{scopes}]", flush=True
            )
        port = f" DYNAMODB_PORT={args.dynamodb_port}" if args.dynamodb_port != DEFAULT_DYNAMODB_PORT else ""
        for schedule in manifest["schedules"]:
            detail = schedule["input"]["detail"]
            print(
                f"  job {detail['job']}: {schedule['expression']} {schedule['time_zone']}, every program at"
                f" {detail['local_hour']:02d}:xx its local time -> `make job JOB={detail['job']} TIME=<RFC 3339>"
                f" [PROGRAM=<id>]{port}`; events go to .local/events.jsonl",
                flush=True,
            )
        if args.auth:
            print("auth ON: send `Authorization: Bearer $(make -s token MEMBER=alice)` (see README)", flush=True)
        else:
            print("auth off: every request acts as a local operator; `make run AUTH=1` checks tokens", flush=True)
        print("Ctrl-C stops the gateway and DynamoDB Local.", flush=True)
        # Ctrl-C and SIGTERM both stop cleanly (a background start may have SIGINT ignored).
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
        finally:
            server.server_close()
    finally:
        dynamodb.stop(database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
