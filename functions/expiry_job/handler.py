"""The expiry sweep: expire the points due by now and announce those about to expire.

Run daily by an EventBridge schedule in the program's time zone; the event's ``time`` is now.
"""

from typing import Any

from shared import startup
from shared.expiry_job import JOB, plan_expiry_sweep
from shared.job_handler import handle


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(JOB, plan_expiry_sweep, event, context)


startup.loaded()  # last: see functions/__init__.py
