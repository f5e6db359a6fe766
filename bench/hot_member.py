"""Hot member: successful writes per second on one member with 8 concurrent writers.

Eight threads (eight Lambda containers) report orders for the same member for a fixed time,
through the use case (``shared.logic.report_event``), on DynamoDB Local. Every write is one
conditional transaction on the member's version: a writer that loses the race retries with
jittered backoff, planning from the member the cancelled transaction returned (no re-read).
Retries are counted at the client (each transaction DynamoDB cancelled on the member's
condition is one retry), and so are all requests per successful write. References, measured in the same run: one
writer alone on one member (the serial rate), and eight writers on eight members (no
contention). DynamoDB Local serialises transactions, so these rates are the local machine's,
not DynamoDB's; the ratios and the retry count are the figures to read.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.context import NOW, Context, Figure, order_body

TITLE = "Hot member: writes/s with 8 concurrent writers on one member, and retries"
WRITERS = 8


def hammer(ctx: Context, members: list[str], writers: int, seconds: float) -> tuple[int, int, int, int]:
    """(successful writes, retries, 503s, requests) of ``writers`` threads writing to ``members`` round-robin."""
    from pydantic import TypeAdapter

    from shared import logic
    from shared.api import EventIn
    from shared.errors import Busy

    adapter: TypeAdapter[Any] = TypeAdapter(EventIn)
    run = uuid.uuid4().hex[:6]
    with ctx.counting() as counted:
        deadline = time.monotonic() + seconds
        lock = threading.Lock()
        outcome = {"ok": 0, "busy": 0}

        def writer(number: int) -> None:
            member = members[number % len(members)]
            n = 0
            while time.monotonic() < deadline:
                event = adapter.validate_python(order_body(f"hot-{run}-{number}-{n}", "10.00"))
                n += 1
                try:
                    status, _body = logic.report_event("default", member, event, NOW)
                except Busy:
                    with lock:
                        outcome["busy"] += 1
                    continue
                assert status == 201
                with lock:
                    outcome["ok"] += 1

        with ThreadPoolExecutor(max_workers=writers) as pool:
            list(pool.map(writer, range(writers)))
    retries = sum(n for key, n in counted.failed.items() if key.startswith("TransactWriteItems:"))
    return outcome["ok"], retries, outcome["busy"], counted.total


def run(ctx: Context) -> list[Figure]:
    seconds = 30.0 if ctx.large else 1.0 if ctx.smoke else 8.0
    run_id = uuid.uuid4().hex[:6]
    hot, hot_retries, hot_busy, hot_requests = hammer(ctx, [f"hot-{run_id}"], WRITERS, seconds)
    alone, _r, _b, alone_requests = hammer(ctx, [f"alone-{run_id}"], 1, seconds / 2)
    spread, spread_retries, _b, _n = hammer(ctx, [f"spread-{run_id}-{i}" for i in range(WRITERS)], WRITERS, seconds)
    hot_rate, alone_rate, spread_rate = hot / seconds, alone / (seconds / 2), spread / seconds
    return [
        Figure(
            "8 writers, 1 member",
            hot_rate,
            "w/s",
            alone_rate,
            "w/s 1 writer",
            note=f"{hot} writes in {seconds:.0f} s, {hot_busy} answered 503",
        ),
        Figure(
            "8 writers, 8 members", spread_rate, "w/s", alone_rate, "w/s 1 writer", note=f"{spread_retries} retries"
        ),
        Figure(
            "retries per hot write",
            hot_retries / max(hot, 1),
            "/write",
            note=f"{hot_retries} transactions lost the race and were retried",
        ),
        Figure(
            "requests per hot write",
            hot_requests / max(hot, 1),
            "req/write",
            alone_requests / max(alone, 1),
            "req/write 1 writer",
            note="every retry is one transaction: the lost race returned the member, no read",
        ),
    ]
