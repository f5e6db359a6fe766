"""Helpers for job tests: a program of one's own, the job run as EventBridge Scheduler runs it.

Each test gets its own program (a copy of the default one under a fresh id), so its job state,
due members and outbox are its own: jobs of other tests never touch its members.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.engine import DEFAULT_PROGRAM_FILE, LambdaContext
from local.job import run_job, scheduled_event
from tests.integration import dynamo_hooks
from tests.integration.conftest import Api
from tests.integration.dynamo_hooks import operation_of

PROGRAM_CREATED_AT = datetime(2025, 12, 1, tzinfo=UTC)


def new_program(api: Api, edit: Callable[[dict[str, Any]], None] | None = None) -> str:
    program = f"p-{uuid.uuid4().hex[:10]}"
    config = json.loads(DEFAULT_PROGRAM_FILE.read_text())
    if edit:
        edit(config)
    assert api.call("PUT", f"/v1/programs/{program}", config, at=PROGRAM_CREATED_AT).status == 201
    return program


class FakeContext(LambdaContext):
    """A Lambda context whose remaining time runs out after ``pages`` checks (None: never)."""

    def __init__(self, pages: int | None = None) -> None:
        super().__init__("tier_job", timeout_s=900)
        self.checks_left = pages

    def get_remaining_time_in_millis(self) -> int:
        if self.checks_left is None:
            return 900_000
        self.checks_left -= 1
        return 900_000 if self.checks_left >= 0 else 1_000


def run(
    api: Api,
    job: str,
    program: str,
    at: str | datetime,
    context: Callable[[], Any] = FakeContext,
) -> list[dict[str, Any]]:
    """The job's reports for one scheduled firing at ``at`` (continuations included)."""
    moment = at if isinstance(at, datetime) else datetime.fromisoformat(at.replace("Z", "+00:00"))
    function_id, event = scheduled_event(api.manifest, job, "default", moment)
    event["detail"]["program_id"] = program
    return run_job(api.handlers[function_id], event, context)


def published(events_file: Path, program: str) -> list[dict[str, Any]]:
    """Events of ``program`` the local bus has received, in order."""
    if not events_file.exists():
        return []
    lines = [json.loads(line) for line in events_file.read_text().splitlines() if line]
    return [e for e in lines if e["detail"].get("program_id") == program]


@contextmanager
def events_to(path: Path) -> Iterator[Path]:
    import os

    previous = os.environ.get("LOCAL_EVENTS_FILE")
    os.environ["LOCAL_EVENTS_FILE"] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            del os.environ["LOCAL_EVENTS_FILE"]
        else:
            os.environ["LOCAL_EVENTS_FILE"] = previous


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the job catches it."""


@contextmanager
def before_send(operation: str, action: Callable[[int, bytes], None]) -> Iterator[list[int]]:
    """Call ``action(n, body)`` before the n-th send of a DynamoDB ``operation`` (it may raise)."""
    calls = [0]

    def hook(request: Any, **_kwargs: Any) -> None:
        if operation_of(request) == operation:
            calls[0] += 1
            body = request.body or b""
            action(calls[0], body if isinstance(body, bytes) else str(body).encode())

    with dynamo_hooks.before_send(hook, f"job-test-{operation}"):
        yield calls
