"""Scheduled jobs over many members with 1% due: items read per due member, members per second.

    .venv/bin/python -m bench.jobs [--sizes 10000,100000] [--due-percent 1]

For each size, a fresh program on DynamoDB Local gets that many members, written straight into
the table (the API would take far longer to seed): 1% due before the job's now, the rest due
later, half of them later in the same month (same index partitions: the range key must keep
them unread) and half in later months. The job then runs as the scheduler runs it, with items
read counted by a botocore hook on every response (Query items, BatchGetItem items, GetItem).

Reads per due member must not grow with the members that are not due: the figure to compare
is the same at 10,000 and at 100,000 members.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local import dynamodb

NOW = datetime(2027, 6, 15, 16, 10, tzinfo=UTC)
"""The job's now: members are due up to it, or later this month, or in later months."""


def _seed_tier(program: str, size: int, due_percent: float, config_version: int) -> int:
    from shared import store
    from shared.rules import MemberState

    due = max(1, int(size * due_percent / 100))
    items = []
    for n in range(size):
        if n < due:
            valid_until = NOW - timedelta(hours=1 + n % 300)  # due earlier this month
        elif n % 2:
            valid_until = NOW + timedelta(hours=1 + n % 300)  # later this month: same partitions
        else:
            valid_until = NOW + timedelta(days=31 * (1 + n % 11))  # later months
        since = valid_until - timedelta(days=365)
        state = MemberState(
            program_id=program,
            member_id=f"m{n:07d}",
            version=1,
            growth=3000 + n % 5000,
            tier="silver",
            tier_since=since,
            tier_valid_until=valid_until,
            tier_period_start=since,
            tier_period_active=n % 3 != 0,
            ledger_seq=1,
            created_at=since,
        )
        items.append(store.member_to_item(replace(state), config_version, since))
    _write_all(items)
    return due


def _seed_expiry(program: str, size: int, due_percent: float, config_version: int) -> int:
    from shared import store
    from shared.rules import MemberState, PointsLot

    due = max(1, int(size * due_percent / 100))
    items = []
    for n in range(size):
        if n < due:
            expires = NOW - timedelta(hours=1 + n % 300)  # expired earlier this month
        elif n % 2:
            expires = NOW + timedelta(days=40 + n % 300)  # reminders and expiry later on
        else:
            expires = NOW + timedelta(hours=1 + n % 300)  # later this month: same partitions...
        # ...with no reminder left to send (earlier runs sent them), so only the expiry is pending
        reminders = () if n < due or n % 2 == 0 else (expires - timedelta(days=30), expires - timedelta(days=7))
        lots = (PointsLot(expires, 100 + n % 50, remind_at=reminders), PointsLot(None, 10))
        state = MemberState(
            program_id=program,
            member_id=f"m{n:07d}",
            version=1,
            points_balance=sum(lot.points for lot in lots),
            lots=lots,
            tier="bronze",
            ledger_seq=1,
        )
        items.append(store.member_to_item(state, config_version, NOW - timedelta(days=400)))
    _write_all(items)
    return due


def _write_all(items: list[Any]) -> None:
    from shared.models import MemberItem

    def write(chunk: list[Any]) -> None:
        with MemberItem.batch_write() as batch:
            for item in chunk:
                batch.save(MemberItem.from_raw_data(item))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, [items[i : i + 500] for i in range(0, len(items), 500)]))


class ReadCounter:
    """Items read and requests sent, by operation, from the responses botocore parses."""

    def __init__(self) -> None:
        self.items: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()

    def __call__(self, http_response: Any, parsed: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        name = model.name
        self.requests[name] += 1
        if name == "Query":
            for item in parsed.get("Items", []):
                # due-date index keys carry the index's attributes; the rest are outbox events
                self.items["index" if any(k.endswith("_due_sk") for k in item) else "outbox"] += 1
        elif name == "BatchGetItem":
            self.items[name] += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif name == "GetItem":
            self.items[name] += 1 if parsed.get("Item") else 0


def run_size(
    job: str, plan: Callable[..., Any], seed: Callable[[str, int, float, int], int], size: int, due_percent: float
) -> dict[str, Any]:
    from local.engine import DEFAULT_PROGRAM_FILE
    from shared import bus, jobs
    from shared.logic import replace_program_config
    from shared.models import MemberItem
    from shared.program import ProgramConfig

    program = f"bench-{job}-{size}"
    config = ProgramConfig.model_validate_json(DEFAULT_PROGRAM_FILE.read_text())
    _status, body = replace_program_config(program, config, NOW - timedelta(days=400))
    started = time.perf_counter()
    due = seed(program, size, due_percent, int(body["version"]))
    seeded = time.perf_counter() - started

    client = MemberItem._get_connection().connection.client
    counter = ReadCounter()
    client.meta.events.register("after-call.dynamodb", counter, unique_id="bench-jobs-reads")
    # A first run walks 13 months of empty partitions; measure a normal daily run, whose previous
    # run completed the months before this one.
    from shared import store

    store.save_job_progress(program, job, jobs._add_months(store.due_month(NOW), -1), NOW)
    with tempfile.TemporaryDirectory() as folder:
        publisher = bus.FilePublisher(Path(folder) / "events.jsonl")
        started = time.perf_counter()
        report = jobs.run_due_job(job, program, NOW, plan, publisher)
        elapsed = time.perf_counter() - started
    client.meta.events.unregister("after-call.dynamodb", unique_id="bench-jobs-reads")
    assert report.changed == due, (report.changed, due)
    items = sum(counter.items.values())
    return {
        "size": size,
        "due": due,
        "seed_s": seeded,
        "changed": report.changed,
        "items_read": items,
        "items_per_due": items / due,
        "index_items_per_due": counter.items["index"] / due,
        "requests_per_due": sum(counter.requests.values()) / due,
        "members_per_s": report.changed / elapsed,
        "elapsed_s": elapsed,
    }


TITLE = "scheduled jobs: items read per due member and members/s, 1% due (10k vs 100k members)"


def run(ctx: Any) -> list[Any]:
    """The bench runner's entry (``python -m bench``): both jobs at 10,000 and 100,000 members
    (``--large``: 100,000 and 300,000), 1% due, in the runner's DynamoDB Local."""
    import importlib

    from bench.context import Figure

    sizes = [100_000, 300_000] if ctx.large else [200, 400] if ctx.smoke else [10_000, 100_000]
    figures: list[Figure] = []
    for job, (module, attribute) in JOBS.items():
        plan = getattr(importlib.import_module(module), attribute)
        small, big = (run_size(job, plan, SEEDS[job], size, 1.0) for size in sizes)
        for row in (small, big):
            figures.append(
                Figure(
                    f"{job}: items read / due member, {row['size']:,} members",
                    row["items_per_due"],
                    "items",
                    note=(
                        f"index {row['index_items_per_due']:.2f}, requests {row['requests_per_due']:.2f} per due member"
                    ),
                )
            )
            figures.append(Figure(f"{job}: members evaluated/s, {row['size']:,} members", row["members_per_s"], "/s"))
        figures.append(
            Figure(
                f"{job}: items read per due member, {big['size']:,} vs {small['size']:,} members",
                big["items_per_due"],
                "items",
                reference=small["items_per_due"],
                reference_name=f"at {small['size']:,}",
                goal=1.1,
                note="flat in the members not due: 10x the members, the same reads per due member",
            )
        )
    return figures


JOBS: dict[str, tuple[str, str]] = {
    "tier": ("shared.tier_job", "plan_tier_evaluation"),
    "expiry": ("shared.expiry_job", "plan_expiry_sweep"),
}


SEEDS: dict[str, Callable[[str, int, float, int], int]] = {"tier": _seed_tier, "expiry": _seed_expiry}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="member counts, comma-separated")
    parser.add_argument("--due-percent", type=float, default=1.0)
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"which jobs ({', '.join(JOBS)})")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    dynamodb.use_local_credentials()
    port = dynamodb.free_port()
    process = dynamodb.start(port)
    try:
        import importlib

        from infra.local_manifest import synth_manifest
        from local.engine import prepare

        prepare(synth_manifest("dev"), f"http://127.0.0.1:{port}", program_files=[])
        for job in args.jobs.split(","):
            module, attribute = JOBS[job]
            plan = getattr(importlib.import_module(module), attribute)
            rows = [run_size(job, plan, SEEDS[job], size, args.due_percent) for size in sizes]
            print(f"\n{job} job, {args.due_percent:g}% due (DynamoDB Local, one process)")
            print(
                f"{'members':>9} {'due':>6} {'items read/due':>15} {'index items/due':>16} "
                f"{'requests/due':>13} {'members/s':>10} {'run s':>7}"
            )
            for r in rows:
                print(
                    f"{r['size']:>9} {r['due']:>6} {r['items_per_due']:>15.2f} {r['index_items_per_due']:>16.2f} "
                    f"{r['requests_per_due']:>13.2f} {r['members_per_s']:>10.1f} {r['elapsed_s']:>7.1f}"
                )
            first, last = rows[0], rows[-1]
            print(
                f"reference: items read per due member at {last['size']} / at {first['size']} members = "
                f"{last['items_per_due'] / first['items_per_due']:.2f} (flat = 1.00; "
                f"{last['size'] // first['size']}x the members not due)"
            )
    finally:
        dynamodb.stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
