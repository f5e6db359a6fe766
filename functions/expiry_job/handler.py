"""The expiry sweep: expire the points due by now and announce those about to expire.

Run by one hourly EventBridge Scheduler schedule: without a program id the run starts, one
invocation each, every program whose local hour it is (``shared.job_handler``); with one it runs
that program. The event's ``time`` is now.
"""

from typing import Any

from shared import startup
from shared.expiry_job import JOB, plan_expiry_sweep
from shared.job_handler import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(JOB, plan_expiry_sweep, event, context)


startup.loaded()  # last: see functions/__init__.py
