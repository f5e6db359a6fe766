"""The Lambda edge of a scheduled job: read the scheduled event, run, continue if cut short.

The event is what the EventBridge Scheduler target sends (see ``infra/jobs.py``): one schedule
per job, hourly, for every program::

    {"source": "loyalty.scheduler", "detail-type": "Scheduled Event",
     "time": "<scheduled time>", "detail": {"job": "tier", "local_hour": 0}}

``time`` is the job's now. Without a ``program_id`` the function dispatches: it lists the
program registry (``store.list_programs``, written with every program's config) and, for each
program whose local time at ``time`` is in ``local_hour``, invokes itself asynchronously with
the same event naming that program. So each program runs once a day in its own time zone,
whether it was shipped or created at run time, without a schedule (or a deploy) per program.

With ``detail.program_id`` it runs that program's job. A run that nears the Lambda time limit
stops between pages and invokes its own function again, asynchronously, with the same event
(same ``time``) and ``detail.continuation`` + 1 and ``detail.resume`` (the month and shard it
stopped in): a continuation is the same run, picking up what is still due where the last one
stopped. A dispatch cut short continues the same way after the last program it looked at
(``detail.dispatch_after``). Runs are idempotent, so a program started twice (a retried
dispatch) changes each member once.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import bus, clock, store
from shared.ids import ID_PATTERN
from shared.jobs import Plan, run_due_job

logger = logging.getLogger("loyalty.jobs")
logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))


def _setting(name: str, default: int) -> int:
    """``JOB_STOP_MARGIN_MS``: stop taking new pages when less than this is left of the invocation
    (the stack sets 60 s of a 15 min timeout). ``JOB_PAGE_SIZE``: due members per page."""
    return int(os.environ.get(name, str(default)))


MAX_CONTINUATIONS = 1000
"""A bound on self-invocations, so a bug can never loop forever (1000 x 15 min)."""


class BadScheduledEvent(ValueError):
    pass


@dataclass(frozen=True)
class ScheduledEvent:
    now: datetime
    program_id: str | None
    """``None``: dispatch to every program whose local time at ``now`` is in ``local_hour``."""
    local_hour: int | None
    continuation: int
    resume: tuple[str, int] | None
    hold_progress: bool
    dispatch_after: str | None = None
    """A dispatch's continuation: the registry from after this program id."""


def _program_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value) or len(value) > 128:
        raise BadScheduledEvent(f"{field}: must be a program id")
    return value


def parse_scheduled_event(event: dict[str, Any]) -> ScheduledEvent:
    """What a scheduled event asks for; a clear error naming the field otherwise."""
    if not isinstance(event, dict):
        raise BadScheduledEvent("the event must be a JSON object")
    try:
        now = clock.parse_utc(str(event["time"]))
    except (KeyError, ValueError) as exc:
        raise BadScheduledEvent("time: must be an RFC 3339 timestamp with an offset") from exc
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise BadScheduledEvent("detail: must be an object with program_id or local_hour")
    continuation = detail.get("continuation", 0)
    if not isinstance(continuation, int) or isinstance(continuation, bool) or continuation < 0:
        raise BadScheduledEvent("detail.continuation: must be a non-negative integer")
    if "program_id" not in detail:
        local_hour = detail.get("local_hour")
        if local_hour is None:
            raise BadScheduledEvent(
                "detail.program_id: must be a program id (or leave it out and give detail.local_hour,"
                " 0-23, to run every program whose local time is in that hour)"
            )
        if not isinstance(local_hour, int) or isinstance(local_hour, bool) or not 0 <= local_hour <= 23:
            raise BadScheduledEvent("detail.local_hour: must be an hour of the day, 0-23")
        after = detail.get("dispatch_after")
        after = None if after is None else _program_id(after, "detail.dispatch_after")
        return ScheduledEvent(now, None, local_hour, continuation, None, False, after)
    program_id = _program_id(detail.get("program_id"), "detail.program_id")
    resume = detail.get("resume")
    if resume is None:
        return ScheduledEvent(now, program_id, None, continuation, None, False)
    month, shard = (resume.get("month"), resume.get("shard")) if isinstance(resume, dict) else (None, None)
    if not isinstance(month, str) or not re.fullmatch(r"\d{4}-\d{2}", month) or not isinstance(shard, int):
        raise BadScheduledEvent("detail.resume: must be {month: YYYY-MM, shard: int}")
    hold = detail.get("hold_progress", False)
    if not isinstance(hold, bool):
        raise BadScheduledEvent("detail.hold_progress: must be true or false")
    return ScheduledEvent(now, program_id, None, continuation, (month, shard), hold)


def in_local_hour(now: datetime, time_zone: str, hour: int) -> bool:
    """Whether ``now`` is in hour ``hour`` of the local day in ``time_zone`` (the dispatch rule).

    Hourly firings at a fixed minute past the UTC hour meet every zone's hour once a day (at that
    minute, plus the zone's offset from whole hours: 00:40 in India for a firing at :10).
    """
    return now.astimezone(clock.zone(time_zone)).hour == hour


_lambda_client: Any = None


def _invoke_self(event: dict[str, Any], context: Any) -> None:
    global _lambda_client
    if _lambda_client is None:  # one client per container: a dispatch may start many programs
        import botocore.session

        _lambda_client = botocore.session.get_session().create_client("lambda")
    _lambda_client.invoke(
        FunctionName=context.invoked_function_arn,
        InvocationType="Event",
        Payload=json.dumps(event).encode(),
    )


continuer: Callable[[dict[str, Any], Any], None] = _invoke_self
"""How a stopped run continues, and how a dispatch starts each program's run (an asynchronous
invocation of the same function); the local runner replaces it with an in-process queue."""


def handle(job: str, plan: Plan, event: dict[str, Any], context: Any) -> dict[str, Any]:
    scheduled = parse_scheduled_event(event)
    if scheduled.program_id is None:
        return dispatch(job, scheduled, event, context)
    now, program_id, continuation = scheduled.now, scheduled.program_id, scheduled.continuation
    resume, hold = scheduled.resume, scheduled.hold_progress
    margin_ms = _setting("JOB_STOP_MARGIN_MS", 60_000)
    report = run_due_job(
        job,
        program_id,
        now,
        plan,
        bus.from_environment(),
        should_stop=lambda: context.get_remaining_time_in_millis() < margin_ms,
        page_size=_setting("JOB_PAGE_SIZE", 100),
        resume=resume,
        hold_progress=hold,
    )
    result = report.as_dict() | {"continuation": continuation}
    logger.info(json.dumps({"message": "job run", **result}))
    if report.status == "stopped":
        if continuation >= MAX_CONTINUATIONS:
            logger.error(json.dumps({"message": "continuation limit reached; the next schedule resumes", **result}))
        else:
            detail = {
                **event["detail"],
                "continuation": continuation + 1,
                "resume": result["resume"],
                # failures earlier in this run keep every month open for the next run to retry
                "hold_progress": hold or report.failed > 0,
            }
            continuer({**event, "detail": detail}, context)
    return result


REPORTED_PROGRAM_IDS = 100
"""A dispatch report lists at most this many of the programs it started (a log line stays small)."""


def dispatch(job: str, scheduled: ScheduledEvent, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Start the job of every registered program whose local time at ``now`` is in the hour.

    Each start is an asynchronous invocation of this function with the same event naming the
    program (``continuer``): the programs run in parallel, each with its own time limit and
    continuations. A start that fails is logged and left to the next day's run (runs catch up
    on everything due by their now); the dispatch itself never fails for one program, so its
    retry never starts every other program again.
    """
    assert scheduled.local_hour is not None
    margin_ms = _setting("JOB_STOP_MARGIN_MS", 60_000)
    result: dict[str, Any] = {
        "job": job,
        "dispatch": True,
        "now": clock.format_utc(scheduled.now),
        "local_hour": scheduled.local_hour,
        "status": "done",
        "programs": 0,
        "started": 0,
        "failed": 0,
        "program_ids": [],
        "dispatch_after": None,
        "continuation": scheduled.continuation,
    }
    after = scheduled.dispatch_after
    # A program's run gets the schedule's event naming the program (and the job, as the schedule does).
    base_detail = {"job": event["detail"]["job"]} if "job" in event["detail"] else {}
    stopped = False
    while not stopped:
        page = store.list_programs(after=after, limit=_setting("JOB_PAGE_SIZE", 100))
        for program in page.programs:
            if context.get_remaining_time_in_millis() < margin_ms:
                stopped = True
                break
            result["programs"] += 1
            try:
                if in_local_hour(scheduled.now, program.time_zone, scheduled.local_hour):
                    detail = {**base_detail, "program_id": program.program_id}
                    continuer({**event, "detail": detail}, context)
                    result["started"] += 1
                    if len(result["program_ids"]) < REPORTED_PROGRAM_IDS:
                        result["program_ids"].append(program.program_id)
            except Exception:
                result["failed"] += 1
                logger.exception(json.dumps({"message": "could not start the job", "program_id": program.program_id}))
            after = program.program_id
        if not page.more:
            break
    if stopped:
        result["status"] = "stopped"
        result["dispatch_after"] = after
    logger.info(json.dumps({"message": "job dispatch", **result}))
    if stopped:
        if scheduled.continuation >= MAX_CONTINUATIONS:
            logger.error(json.dumps({"message": "continuation limit reached; the next hour dispatches", **result}))
        else:
            detail = {
                **event["detail"],
                "continuation": scheduled.continuation + 1,
                "dispatch_after": after,
            }
            continuer({**event, "detail": detail}, context)
    return result
