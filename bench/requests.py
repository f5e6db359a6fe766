"""DynamoDB requests and consumed capacity per earn, redeem and snapshot read.

    make bench          # or: .venv/bin/python -m bench.requests [--operations N]

Counts every request the functions send (botocore ``before-send`` hook) on DynamoDB Local,
through the same handlers and gateway dispatch as ``make run``. The floor it is compared with:
1 request per write and 1 per read.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import Counter
from typing import Any

from local import dynamodb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operations", type=int, default=50, help="operations of each kind (default 50)")
    args = parser.parse_args(argv)

    dynamodb.use_local_credentials()
    port = dynamodb.free_port()
    process = dynamodb.start(port)
    try:
        from infra.local_manifest import synth_manifest
        from local.auth import AuthOff
        from local.engine import prepare
        from local.gateway import compile_routes, dispatch
        from shared.models import MemberItem

        manifest = synth_manifest("dev")
        handlers = prepare(manifest, f"http://127.0.0.1:{port}")
        routes = compile_routes(manifest)
        auth = AuthOff(manifest)  # as `make run`: requests act as a local operator
        client = MemberItem._get_connection().connection.client
        sent: Counter[str] = Counter()

        def count(request: Any, **_kwargs: Any) -> None:
            target = request.headers.get("X-Amz-Target", b"")
            sent[(target.decode() if isinstance(target, bytes) else target).split(".")[-1]] += 1

        client.meta.events.register("before-send.dynamodb", count, unique_id="bench-count")

        def call(method: str, path: str, body: dict[str, Any] | None = None) -> int:
            data = json.dumps(body).encode() if body is not None else b""
            return dispatch(routes, handlers, method, path, {}, data, auth=auth)[0]

        member = f"bench-{uuid.uuid4().hex[:8]}"
        base = f"/v1/programs/default/members/{member}"
        rows: list[tuple[str, float, dict[str, float], Counter[int]]] = []
        for name, make in (
            ("earn (order_completed)", lambda i: ("POST", f"{base}/events", _order(member, i))),
            ("redeem", lambda i: ("POST", f"{base}/redemptions", {"redemption_id": f"{member}-r{i}", "points": 1})),
            ("replayed earn", lambda i: ("POST", f"{base}/events", _order(member, i))),
            ("snapshot read", lambda i: ("GET", base, None)),
            ("ledger page", lambda i: ("GET", f"{base}/ledger?limit=20", None)),
        ):
            sent.clear()
            statuses = Counter(call(*make(i)) for i in range(args.operations))
            per_op = {op: n / args.operations for op, n in sorted(sent.items())}
            total = sum(sent.values()) / args.operations
            rows.append((name, total, per_op, statuses))
        floor = {"earn (order_completed)": 1, "redeem": 1, "replayed earn": 1, "snapshot read": 1, "ledger page": 1}
        print(f"{'operation':24} {'requests/op':>11} {'floor':>5}  breakdown / statuses")
        for name, total, per_op, statuses in rows:
            breakdown = ", ".join(f"{op} {n:g}" for op, n in per_op.items())
            print(f"{name:24} {total:11.2f} {floor[name]:5}  {breakdown}  {dict(statuses)}")
    finally:
        dynamodb.stop(process)
    return 0


def _order(member: str, i: int) -> dict[str, Any]:
    return {
        "event_id": f"{member}-o{i}",
        "type": "order_completed",
        "occurred_at": "2026-11-22T02:00:00Z",
        "attributes": {"order_id": f"o{i}", "settled_amount": "10.00"},
    }


if __name__ == "__main__":
    sys.exit(main())
