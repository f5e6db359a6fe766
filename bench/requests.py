"""DynamoDB requests and consumed capacity per earn, redeem, replay, snapshot read, ledger page.

    .venv/bin/python -m bench --only requests     # or all figures: make bench

Counts every request the functions send (botocore ``after-call`` hook on the engine's client)
and the capacity DynamoDB reports for them (``ReturnConsumedCapacity=TOTAL``), on DynamoDB
Local, through the same handlers and gateway dispatch as ``make run``. The floor each is
compared with: 1 request per write and 1 per read (the goal: the happy path at the floor).

A write is one request when the container last read or wrote the member (``write_cache``:
the happy path of a member's writes landing on a warm container), two when it has not (read,
then write): both are measured, the second by emptying the cache before each write.

Capacity is printed as DynamoDB Local reports it, with no reference: Local's figures for
transactions are lower than DynamoDB's bill (DynamoDB charges a transactional write 2 write
units per KB per item: request record, ledger entry, member, and an earn's order record, plus
the config check of a write planned from the cache).
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter

from bench.context import Context, Figure, order_body
from shared import write_cache

TITLE = "DynamoDB requests and capacity per operation (floor: 1 request)"


def run(ctx: Context) -> list[Figure]:
    operations = 200 if ctx.large else 3 if ctx.smoke else 50
    member = f"bench-{uuid.uuid4().hex[:8]}"
    base = f"/v1/programs/default/members/{member}"
    figures: list[Figure] = []
    for name, make, cold in (
        ("earn (order_completed)", lambda i: ("POST", f"{base}/events", order_body(f"{member}-o{i}")), False),
        ("redeem", lambda i: ("POST", f"{base}/redemptions", {"redemption_id": f"{member}-r{i}", "points": 1}), False),
        ("earn, member not cached", lambda i: ("POST", f"{base}/events", order_body(f"{member}-c{i}")), True),
        (
            "redeem, member not cached",
            lambda i: ("POST", f"{base}/redemptions", {"redemption_id": f"{member}-cr{i}", "points": 1}),
            True,
        ),
        ("replayed earn", lambda i: ("POST", f"{base}/events", order_body(f"{member}-o{i}")), False),
        ("snapshot read", lambda i: ("GET", base, None), False),
        ("ledger page (20)", lambda i: ("GET", f"{base}/ledger?limit=20", None), False),
    ):
        statuses: Counter[int] = Counter()
        if not cold:
            ctx.call(*make(operations))  # the member's first write in this container reads it
        with ctx.counting() as counted:
            for i in range(operations):
                if cold:
                    write_cache.clear()  # as a container that has not seen this member
                statuses[ctx.call(*make(i))[0]] += 1
        breakdown = ", ".join(f"{op} {n / operations:g}" for op, n in sorted(counted.sent.items()))
        figures.append(
            Figure(
                f"{name}: requests",
                counted.total / operations,
                "req/op",
                1.0,
                "floor",
                goal=None if name == "replayed earn" or cold else 1.0,
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
