"""What every figure module gets: DynamoDB Local, the engine wired to it, and measuring tools.

A figure module exposes ``TITLE`` and ``run(ctx) -> list[Figure]``; ``bench/__main__.py`` lists
the modules. Each figure carries the reference it is compared with, measured in the same run
(or a fixed floor or limit, said so), and the goal when the issue sets one.
"""

from __future__ import annotations

import gc
import json
import statistics
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local import dynamodb

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
"""The request time of every benchmark request (business times are before it)."""


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    reference: float | None = None
    reference_name: str = ""
    goal: float | None = None
    """The highest acceptable value / reference ratio (or value, when there is no reference)."""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.reference if self.reference else None

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return ""
        measured = self.ratio if self.ratio is not None else self.value
        return "ok" if measured <= self.goal else "OVER"


@dataclass
class Context:
    """DynamoDB Local on a free port, the tables and the default program, the handlers."""

    large: bool
    smoke: bool = False
    """Tiny sizes: every figure module runs end to end in seconds (a test runs it so); the
    figures then mean nothing."""
    endpoint: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)
    handlers: dict[str, Any] = field(default_factory=dict)
    routes: list[Any] = field(default_factory=list)
    _process: Any = None

    def start(self) -> Context:
        from infra.local_manifest import synth_manifest
        from local.engine import prepare
        from local.gateway import compile_routes

        dynamodb.use_local_credentials()
        port = dynamodb.free_port()
        self._process = dynamodb.start(port)
        self.endpoint = f"http://127.0.0.1:{port}"
        self.manifest = synth_manifest("dev")
        self.handlers = prepare(self.manifest, self.endpoint)
        self.routes = compile_routes(self.manifest)
        # A deployed function freezes what its loading made (shared.startup.loaded), so later
        # collections never walk it. Here one process loads every function, each after the
        # first with the collector on: freeze once all are loaded, as each container is after
        # its init. Without it, collections walking the later handlers' objects (up to 20 ms
        # each) landed in whichever timed call was running.
        gc.freeze()
        return self

    def stop(self) -> None:
        if self._process is not None:
            dynamodb.stop(self._process)

    @property
    def client(self) -> Any:
        """The engine's own botocore client (PynamoDB's): hooks on it see every request."""
        from shared.models import MemberItem

        return MemberItem._get_connection().connection.client

    @property
    def table(self) -> str:
        from shared.models import MemberItem

        return str(MemberItem.Meta.table_name)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """One request through the gateway dispatch and the real handlers (as ``make run``)."""
        from local.gateway import dispatch

        data = json.dumps(body).encode() if body is not None else b""
        from local.auth import AuthOff

        # as `make run`: auth off, every request acts as a local operator (the functions still check)
        status, _headers, raw, _fn = dispatch(
            self.routes, self.handlers, method, path, {}, data, int(NOW.timestamp() * 1000), auth=AuthOff(self.manifest)
        )
        return status, json.loads(raw) if raw else {}

    @contextmanager
    def counting(self) -> Iterator[Requests]:
        """Count the engine's DynamoDB requests and the capacity DynamoDB says they consumed."""
        counted = Requests()
        events = self.client.meta.events
        name = f"bench-{uuid.uuid4().hex}"
        events.register("before-parameter-build.dynamodb", counted.ask_capacity, unique_id=f"{name}-ask")
        events.register("after-call.dynamodb", counted.after_call, unique_id=f"{name}-count")
        try:
            yield counted
        finally:
            events.unregister("before-parameter-build.dynamodb", unique_id=f"{name}-ask")
            events.unregister("after-call.dynamodb", unique_id=f"{name}-count")


@dataclass
class Requests:
    sent: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    failed: Counter[str] = field(default_factory=Counter)

    def ask_capacity(self, params: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        # The engine does not ask for it on its writes (nor on its raw BatchGetItem): ask here,
        # to count it. DynamoDB charges the same either way.
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "TOTAL"

    def after_call(self, model: Any, parsed: dict[str, Any], http_response: Any = None, **_kwargs: Any) -> None:
        self.sent[model.name] += 1
        if "Error" in parsed:
            self.failed[f"{model.name}:{parsed['Error'].get('Code')}"] += 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            units = float(entry.get("CapacityUnits", 0))
            read, write = entry.get("ReadCapacityUnits"), entry.get("WriteCapacityUnits")
            if read is not None or write is not None:
                self.read_units += float(read or 0)
                self.write_units += float(write or 0)
            elif model.name in ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"):
                self.write_units += units
            else:
                self.read_units += units

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0.5, 0.99) of ``values``, by the inclusive method."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(share * 100) - 1]


def order_body(key: str, amount: str = "10.00", occurred_at: str = "2026-11-22T02:00:00Z") -> dict[str, Any]:
    return {
        "event_id": key,
        "type": "order_completed",
        "occurred_at": occurred_at,
        "attributes": {"order_id": key, "settled_amount": amount},
    }
