"""The scheduled-job runner every due-date job shares (tier evaluation, points expiry).

A run at ``now`` (the scheduled event's time, never the wall clock):

1. publishes what an earlier run left in the outbox (a run killed after a write, before its
   publish, loses no event);
2. walks the due-date index month by month, from the month after the last completed one
   through the UTC month of ``now``, every shard of each month, one page of keys at a time,
   reading only keys due by ``now`` (range keys sort by due time); members due later are left
   for a later run;
3. for each due member, re-reads it (strongly consistent), asks the job's ``plan`` for the
   change, and writes ledger entry + member + outbox events in one transaction conditioned
   on the member's version (a concurrent earn or spend makes it re-read and re-plan);
4. publishes the page's events, then checks the time left and stops cleanly between pages.

Exactly once without a cursor: a processed member's due key moves past ``now`` (or away), so a
rerun, a continuation or a second run of the same day finds only members not yet done, and a
member re-read as not due is skipped. ``completed_through`` only saves re-querying old months.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import clock, store
from shared.bus import Publisher
from shared.errors import ProgramNotFound
from shared.rules import MemberState
from shared.store import LedgerEntry, OutboxEvent, ProgramVersion, StaleWrite

logger = logging.getLogger(__name__)

COMPLETION_GRACE = timedelta(days=1)
"""A month counts as complete only this long after it ends: a write made at its very end (due
keys go to the month of the due time or of the write, whichever is later) has reached the
eventually consistent index by then, and no run still in flight writes into it."""
PAGE_SIZE = 100
WORKERS = 8
MEMBER_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class JobWrite:
    state: MemberState
    entry: LedgerEntry | None
    """``None`` when the change moves no points or growth (e.g. only reminders went out)."""
    events: list[OutboxEvent]


Plan = Callable[[ProgramVersion, MemberState, datetime], JobWrite | None]
"""(program, member as read, now) -> the member's change, or ``None`` if nothing is due."""


@dataclass
class JobReport:
    job: str
    program_id: str
    now: datetime
    status: str = "done"  # done | stopped
    months: list[str] = field(default_factory=list)
    due_seen: int = 0
    changed: int = 0
    skipped: int = 0
    retries: int = 0
    failed: int = 0
    published: int = 0
    resume: tuple[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "program_id": self.program_id,
            "now": clock.format_utc(self.now),
            "status": self.status,
            "months": self.months,
            "due_seen": self.due_seen,
            "changed": self.changed,
            "skipped": self.skipped,
            "retries": self.retries,
            "failed": self.failed,
            "published": self.published,
            "resume": {"month": self.resume[0], "shard": self.resume[1]} if self.resume else None,
        }


def run_due_job(
    job: str,
    program_id: str,
    now: datetime,
    plan: Plan,
    publisher: Publisher,
    should_stop: Callable[[], bool] = lambda: False,
    page_size: int = PAGE_SIZE,
    workers: int = WORKERS,
    resume: tuple[str, int] | None = None,
    hold_progress: bool = False,
) -> JobReport:
    """One run (or continuation, from ``resume`` = (month, shard) where the last one stopped).

    ``hold_progress``: an earlier part of this run had failures; record no month as complete,
    so the next run retries them (the report's ``failed`` tells a continuation to pass it on).
    """
    report = JobReport(job, program_id, now)
    program = store.get_program(program_id)
    if program is None:
        raise ProgramNotFound(program_id)
    _drain(program_id, publisher, now, report)

    current = store.due_month(now)
    completable = store.due_month(now - COMPLETION_GRACE)  # months before this one may be marked done
    last_done = store.job_completed_through(program_id, job)
    if last_done:
        month = _next_month(last_done)
    else:
        # No member write is older than the program, and due keys never go to a month before
        # their write: the program's first month is where the first run starts.
        created = store.program_created_at(program_id) or now
        month = store.due_month(min(created, now))
    first_shard = 0
    if resume is not None and resume[0] >= month:
        month, first_shard = resume
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{job}-job") as pool:
        while month <= current:
            for shard in range(first_shard, store.DUE_SHARDS):
                start: dict[str, Any] | None = None
                while True:
                    if should_stop():
                        # Members processed in this shard have left it: resume at its start.
                        report.status = "stopped"
                        report.resume = (month, shard)
                        _drain(program_id, publisher, now, report)
                        return report
                    page = store.due_members(job, program_id, month, shard, now, start, page_size)
                    if page.member_ids:
                        _process_page(program, page.member_ids, now, plan, pool, report)
                        # A member's outbox shard is its due shard: only this one has new events.
                        _drain(program_id, publisher, now, report, shards=[shard])
                    start = page.next_key
                    if start is None:
                        break
            report.months.append(month)
            # The current month is never complete: members due later in it belong to later runs.
            # After a failure nothing more is marked complete: the failed members must be re-read.
            if month < completable and not hold_progress and report.failed == 0:
                store.save_job_progress(program_id, job, month, now)
            month = _next_month(month)
            first_shard = 0
    return report


def _add_months(month: str, months: int) -> str:
    year, number = int(month[:4]), int(month[5:7])
    index = year * 12 + number - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _next_month(month: str) -> str:
    return _add_months(month, 1)


def _process_page(
    program: ProgramVersion,
    member_ids: list[str],
    now: datetime,
    plan: Plan,
    pool: ThreadPoolExecutor,
    report: JobReport,
) -> None:
    report.due_seen += len(member_ids)
    members = store.load_members(program.program_id, member_ids)
    outcomes = pool.map(lambda m: _process_member(report.job, program, m, members.get(m), now, plan), member_ids)
    for outcome, retries in outcomes:
        report.retries += retries
        if outcome == "changed":
            report.changed += 1
        elif outcome == "skipped":
            report.skipped += 1
        else:
            report.failed += 1


def _process_member(
    job: str, program: ProgramVersion, member_id: str, state: MemberState | None, now: datetime, plan: Plan
) -> tuple[str, int]:
    deadline = time.monotonic() + MEMBER_RETRY_SECONDS
    retries = 0
    try:
        while True:
            if state is None:
                return "skipped", retries  # the index is eventually consistent; the member is gone
            write = plan(program, state, now)
            if write is None:
                return "skipped", retries  # not due (already done by an earlier or concurrent run)
            try:
                store.commit_job_write(job, write.state, state.version, write.entry, write.events, program.version, now)
                return "changed", retries
            except StaleWrite as lost:
                if time.monotonic() >= deadline:
                    logger.warning("member still contended after retries; left for the next run")
                    return "failed", retries
                retries += 1
                time.sleep(0.002 * min(retries, 50))
                # The cancelled transaction returned the member as the other writer left it.
                state = lost.member or store.load_member(program.program_id, member_id)
    except Exception:
        # One bad member must not stop the day: it is logged, counted, and retried next run.
        logger.exception("job failed on a member")
        return "failed", retries


def _drain(
    program_id: str, publisher: Publisher, now: datetime, report: JobReport, shards: list[int] | None = None
) -> None:
    for shard in range(store.DUE_SHARDS) if shards is None else shards:
        while True:
            pending = store.pending_events(program_id, report.job, shard, 100)
            if not pending:
                break
            published = publisher.publish(pending, now)
            if published:
                store.delete_events(published)
                report.published += len(published)
            if len(published) < len(pending):
                break  # the bus refused some: they stay in the outbox for the next drain
