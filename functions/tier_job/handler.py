"""The tier evaluation job: anniversaries, deductions and downgrades of the members due by now.

Run by one hourly EventBridge Scheduler schedule: without a program id the run starts, one
invocation each, every program whose local hour it is (``shared.job_handler``); with one it runs
that program. The event's ``time`` is now.
"""

from typing import Any

from shared import startup
from shared.job_handler import handle
from shared.tier_job import JOB, plan_tier_evaluation


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(JOB, plan_tier_evaluation, event, context)


startup.loaded()  # last: see functions/__init__.py
