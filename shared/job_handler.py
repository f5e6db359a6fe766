"""The Lambda edge of a scheduled job: read the scheduled event, run, continue if cut short.

The event is what the EventBridge Scheduler target sends (see ``infra/jobs.py``)::

    {"source": "loyalty.scheduler", "detail-type": "Scheduled Event",
     "time": "<scheduled time>", "detail": {"program_id": "default"}}

``time`` is the job's now. A run that nears the Lambda time limit stops between pages and
invokes its own function again, asynchronously, with the same event (same ``time``) and
``detail.continuation`` + 1 and ``detail.resume`` (the month and shard it stopped in): a
continuation is the same run, picking up what is still due where the last one stopped.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared import bus, clock
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


def parse_scheduled_event(event: dict[str, Any]) -> tuple[datetime, str, int, tuple[str, int] | None, bool]:
    """(now, program id, continuation number, resume point, hold progress) of a scheduled event;
    a clear error otherwise."""
    if not isinstance(event, dict):
        raise BadScheduledEvent("the event must be a JSON object")
    try:
        now = clock.parse_utc(str(event["time"]))
    except (KeyError, ValueError) as exc:
        raise BadScheduledEvent("time: must be an RFC 3339 timestamp with an offset") from exc
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise BadScheduledEvent("detail: must be an object with program_id")
    program_id = detail.get("program_id")
    if not isinstance(program_id, str) or not re.fullmatch(ID_PATTERN, program_id) or len(program_id) > 128:
        raise BadScheduledEvent("detail.program_id: must be a program id")
    continuation = detail.get("continuation", 0)
    if not isinstance(continuation, int) or isinstance(continuation, bool) or continuation < 0:
        raise BadScheduledEvent("detail.continuation: must be a non-negative integer")
    resume = detail.get("resume")
    if resume is None:
        return now, program_id, continuation, None, False
    month, shard = (resume.get("month"), resume.get("shard")) if isinstance(resume, dict) else (None, None)
    if not isinstance(month, str) or not re.fullmatch(r"\d{4}-\d{2}", month) or not isinstance(shard, int):
        raise BadScheduledEvent("detail.resume: must be {month: YYYY-MM, shard: int}")
    hold = detail.get("hold_progress", False)
    if not isinstance(hold, bool):
        raise BadScheduledEvent("detail.hold_progress: must be true or false")
    return now, program_id, continuation, (month, shard), hold


def _invoke_self(event: dict[str, Any], context: Any) -> None:
    import botocore.session

    client: Any = botocore.session.get_session().create_client("lambda")
    client.invoke(
        FunctionName=context.invoked_function_arn,
        InvocationType="Event",
        Payload=json.dumps(event).encode(),
    )


continuer: Callable[[dict[str, Any], Any], None] = _invoke_self
"""How a stopped run continues; the local runner replaces it with an in-process loop."""


def handle(job: str, plan: Plan, event: dict[str, Any], context: Any) -> dict[str, Any]:
    now, program_id, continuation, resume, hold = parse_scheduled_event(event)
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
