"""DynamoDB requests and consumed capacity per earn, redeem, replay, snapshot read, ledger page.

    .venv/bin/python -m bench --only requests     # or all figures: make bench

Counts every request the functions send (botocore ``after-call`` hook on the engine's client)
and the capacity DynamoDB reports for them (``ReturnConsumedCapacity=TOTAL``), on DynamoDB
Local, through the same handlers and gateway dispatch as ``make run``. The floor each is
compared with: 1 request per write and 1 per read (the goal: the happy path at the floor).
Capacity is printed as DynamoDB Local reports it, with no reference: Local's figures for
transactions are lower than DynamoDB's bill (DynamoDB charges a transactional write 2 write
units per KB per item: 6 or more for the 3 items of a write here).
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter

from bench.context import Context, Figure, order_body

TITLE = "DynamoDB requests and capacity per operation (floor: 1 request)"


def run(ctx: Context) -> list[Figure]:
    operations = 200 if ctx.large else 3 if ctx.smoke else 50
    member = f"bench-{uuid.uuid4().hex[:8]}"
    base = f"/v1/programs/default/members/{member}"
    figures: list[Figure] = []
    for name, make in (
        ("earn (order_completed)", lambda i: ("POST", f"{base}/events", order_body(f"{member}-o{i}"))),
        ("redeem", lambda i: ("POST", f"{base}/redemptions", {"redemption_id": f"{member}-r{i}", "points": 1})),
        ("replayed earn", lambda i: ("POST", f"{base}/events", order_body(f"{member}-o{i}"))),
        ("snapshot read", lambda i: ("GET", base, None)),
        ("ledger page (20)", lambda i: ("GET", f"{base}/ledger?limit=20", None)),
    ):
        statuses: Counter[int] = Counter()
        with ctx.counting() as counted:
            for i in range(operations):
                statuses[ctx.call(*make(i))[0]] += 1
        breakdown = ", ".join(f"{op} {n / operations:g}" for op, n in sorted(counted.sent.items()))
        figures.append(
            Figure(
                f"{name}: requests",
                counted.total / operations,
                "req/op",
                1.0,
                "floor",
                goal=1.0 if name != "replayed earn" else None,
                note=f"{breakdown}; statuses {dict(statuses)}",
            )
        )
        units = counted.read_units + counted.write_units
        figures.append(
            Figure(
                f"{name}: capacity",
                units / operations,
                "units/op",
                note=f"read {counted.read_units / operations:g}, write {counted.write_units / operations:g}",
            )
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import main as bench_main

    return bench_main(["--only", "requests", *(argv or [])])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
