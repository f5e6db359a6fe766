"""Integration helpers: the API as a client sees it, sample bodies, table and ledger readers.

The fixtures that start DynamoDB Local and wire the engine to it (``endpoint``, ``api``,
``dynamo``, ``member_id``) live in ``tests/conftest.py``, so the integration tests and the
proofs (``tests/proofs``) share one DynamoDB Local and one engine per test process.
Tables and routes come from the synthesized CDK app (``infra.local_manifest``), exactly as
``make run`` wires them; requests go through the same gateway dispatch as 127.0.0.1:3000.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from local.auth import GatewayAuth
from local.gateway import Route, dispatch

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
"""The request time of every test request unless a test says otherwise (no test reads the clock)."""


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str] | None = None


@dataclass
class Api:
    """The HTTP API as a client sees it, with API Gateway's request time under the test's control.

    ``auth`` is the gateway's authorizer: auth off (``make run``) unless a test says otherwise.
    """

    routes: list[Route]
    handlers: dict[str, Any]
    manifest: dict[str, Any]
    endpoint: str
    table_name: str
    auth: GatewayAuth | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        at: datetime = NOW,
    ) -> Reply:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        status, reply_headers, payload, _fn = dispatch(
            self.routes, self.handlers, method, path, headers or {}, data, int(at.timestamp() * 1000), auth=self.auth
        )
        parsed = json.loads(payload) if payload else {}
        return Reply(status, parsed, payload, reply_headers)

    # Order ids are unique per program and tests share the default program, so the helpers
    # scope a test's order ids (and, as before, its client keys, though those are per member
    # now) to its member ("e1" -> "<member>.e1") unless told not to.

    def event(
        self, member: str, body: dict[str, Any], program: str = "default", at: datetime = NOW, scoped: bool = True
    ) -> Reply:
        return self._write(member, "events", "event_id", body, program, at, scoped)

    def redeem(
        self, member: str, body: dict[str, Any], program: str = "default", at: datetime = NOW, scoped: bool = True
    ) -> Reply:
        return self._write(member, "redemptions", "redemption_id", body, program, at, scoped)

    def _write(
        self, member: str, route: str, key: str, body: dict[str, Any], program: str, at: datetime, scoped: bool
    ) -> Reply:
        if scoped and key in body:
            body = {**body, key: f"{member}.{body[key]}"}
        attributes = body.get("attributes") if scoped else None
        if isinstance(attributes, dict) and isinstance(attributes.get("order_id"), str):
            body = {**body, "attributes": {**attributes, "order_id": f"{member}.{attributes['order_id']}"}}
        return self.call("POST", f"/v1/programs/{program}/members/{member}/{route}", body, at=at)

    def member(self, member: str, program: str = "default", at: datetime = NOW) -> Reply:
        return self.call("GET", f"/v1/programs/{program}/members/{member}", at=at)

    def ledger(self, member: str, program: str = "default", query: str = "") -> Reply:
        return self.call("GET", f"/v1/programs/{program}/members/{member}/ledger{query}")


def order(event_id: str, amount: str, at: str = "2026-11-22T02:00:00Z", **attributes: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "order_completed",
        "occurred_at": at,
        "attributes": {"order_id": f"order-{event_id}", "settled_amount": amount, **attributes},
    }


def table_items(dynamo: Any, table: str) -> list[dict[str, Any]]:
    """Every item of the table (tests only: compare before/after to prove nothing was written)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamo.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def direct(operation: Any, *args: Any) -> tuple[int, dict[str, Any]]:
    """Call a logic function as the handler would, mapping domain errors to their status.

    The races are between DynamoDB writers, so concurrency tests drive the logic from many
    threads (each thread one "Lambda container"); the handlers themselves run one at a time
    per process, as in Lambda.
    """
    from shared.errors import LoyaltyError

    try:
        status, body = operation(*args)
    except LoyaltyError as error:
        return error.status, {"error": {"code": error.code}}
    return int(status), body


def ledger_sum(api: Api, member: str, program: str = "default") -> tuple[int, int]:
    """(sum of points, sum of growth) over every ledger entry of ``member``, all pages."""
    points = growth = 0
    query = "?limit=100"
    while True:
        page = api.ledger(member, program, query).body
        for entry in page["entries"]:
            points += entry["points"]
            growth += entry["growth"]
        if not page["next_cursor"]:
            return points, growth
        query = f"?limit=100&cursor={page['next_cursor']}"
