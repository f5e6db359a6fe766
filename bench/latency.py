"""Warm handler latency (p50, p99), in process, divided by the bare DynamoDB calls it makes.

Each operation is timed around the Lambda handler call (API Gateway event in, proxy response
out; event building outside the clock), warm: after warm-up requests on the same member.
Its reference is the same DynamoDB requests made with a plain botocore client and nothing
else: for a write a ``TransactWriteItems`` of the same items with the same kinds of
conditions, after a strongly consistent ``BatchGetItem`` of the same keys when the engine read
first (both copied from the engine's own last requests, keys moved aside; warm, the engine
plans a member's writes from its cache and makes the one request); for a snapshot read the
``BatchGetItem`` of the same 2 keys. Engine and bare calls alternate, so both see the same machine noise.
The ratio is the framework's overhead (Powertools, validation, PynamoDB, rules, JSON); goal
under 1.3.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.context import NOW, Context, Figure, order_body, percentile

TITLE = "Warm handler latency vs the bare DynamoDB calls of the same shape (goal: < 1.3x)"


class Engine:
    def __init__(self, ctx: Context) -> None:
        from local.apigw import http_event
        from local.auth import AuthOff
        from local.engine import LambdaContext, import_handler

        self.ctx = ctx
        self.http_event = http_event
        functions = ctx.manifest["functions"]
        self.handlers = {spec["name"]: import_handler(spec["handler"]) for spec in functions.values()}
        self.lambda_context = LambdaContext
        self.epoch = int(NOW.timestamp() * 1000)
        # what API Gateway's JWT authorizer hands the function for a back-end client token:
        # the functions authorize every request, and that work is part of the overhead
        self.authorizer = AuthOff(ctx.manifest).authorize([], {}, self.epoch)

    def invoke(self, function: str, method: str, route: str, path: str, params: dict[str, str], body: Any) -> float:
        import json

        data = json.dumps(body) if body else None
        event = self.http_event(method, route, path, params, data, None, {}, self.epoch, self.authorizer)
        context = self.lambda_context(function)
        started = time.perf_counter()
        result = self.handlers[function](event, context)
        elapsed = time.perf_counter() - started
        assert result["statusCode"] in (200, 201), result
        return elapsed


class Capture:
    """The engine's last BatchGetItem and TransactWriteItems parameters (to copy their keys,
    items' sizes and shapes)."""

    def __init__(self, ctx: Context) -> None:
        self.read: dict[str, Any] | None = None
        """The BatchGetItem before the last transaction; ``None`` when there was none (the
        write was planned from the container's cache)."""
        self.params: dict[str, Any] = {}
        self._pending_read: dict[str, Any] | None = None
        ctx.client.meta.events.register(
            "before-parameter-build.dynamodb.TransactWriteItems", self.keep, unique_id="bench-capture"
        )
        ctx.client.meta.events.register(
            "before-parameter-build.dynamodb.BatchGetItem", self.keep_read, unique_id="bench-capture-read"
        )

    # References, not copies: these hooks run inside the engine's timed calls, and botocore
    # only reads the parameters after them (``Bare.write`` copies what it changes).
    def keep(self, params: dict[str, Any], **_kwargs: Any) -> None:
        self.params = params
        self.read, self._pending_read = self._pending_read, None

    def keep_read(self, params: dict[str, Any], **_kwargs: Any) -> None:
        self._pending_read = params


class Bare:
    """The same requests with a plain botocore client: no framework, no rules, no models."""

    def __init__(self, ctx: Context) -> None:
        import botocore.session
        from botocore.config import Config

        self.client: Any = botocore.session.get_session().create_client(
            "dynamodb", endpoint_url=ctx.endpoint, config=Config(retries={"mode": "standard", "total_max_attempts": 4})
        )
        self.table = ctx.table
        self.run = uuid.uuid4().hex[:8]
        self.version = 0

    def read(self, keys: list[tuple[str, str]]) -> None:
        request = {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys], "ConsistentRead": True}
        self.client.batch_get_item(RequestItems={self.table: request})

    def moved(self, pk: str, sk: str, program: str, n: int) -> tuple[str, str]:
        """An engine key moved aside: the program's config stays (the engine reads the real
        one); the member's items go under this run's bare member, a new one per write where
        the engine's is new per write (request record, ledger entry, order record)."""
        if pk == f"PROGRAM#{program}":
            return pk, sk
        if "#REQUEST#" in pk:
            return f"BENCH#{self.run}#REQUEST#{n}", sk
        if "#ORDER#" in pk:
            return f"BENCH#{self.run}#ORDER#{n}", sk
        member = f"BENCH#{self.run}#MEMBER"
        if sk.startswith("LEDGER#"):
            return member, f"LEDGER#{n + 1:012d}"
        return member, sk

    def write(self, captured: dict[str, Any], read: dict[str, Any] | None, program: str) -> float:
        """The engine's read if it made one (same keys, moved aside), then its transaction's
        items (the same items, moved aside) with the same kinds of conditions."""
        n = self.version
        keys = [
            self.moved(key["pk"]["S"], key["sk"]["S"], program, n)
            for request in (read or {"RequestItems": {}})["RequestItems"].values()
            for key in request["Keys"]
        ]
        items: list[dict[str, Any]] = []
        for captured_item in captured["TransactItems"]:
            if "ConditionCheck" in captured_item:  # the program config's version: the real item
                items.append(copy.deepcopy(captured_item))
                continue
            put = copy.deepcopy(captured_item["Put"])
            pk, sk = self.moved(put["Item"]["pk"]["S"], put["Item"]["sk"]["S"], program, n)
            put["Item"]["pk"], put["Item"]["sk"] = {"S": pk}, {"S": sk}
            for name in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
                put.pop(name, None)
            put.pop("ReturnValuesOnConditionCheckFailure", None)
            put["ConditionExpression"] = "attribute_not_exists(pk)"
            if "#REQUEST#" in pk:
                put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            if sk == "PROFILE":
                put["Item"]["version"] = {"N": str(n + 1)}
                if n:
                    put["ConditionExpression"] = "#v = :v"
                    put["ExpressionAttributeNames"] = {"#v": "version"}
                    put["ExpressionAttributeValues"] = {":v": {"N": str(n)}}
            items.append({"Put": put})
        started = time.perf_counter()
        if keys:
            self.read(keys)
        self.client.transact_write_items(TransactItems=items)
        elapsed = time.perf_counter() - started
        self.version += 1
        return elapsed

    def timed_read(self, keys: list[tuple[str, str]]) -> float:
        started = time.perf_counter()
        self.read(keys)
        return time.perf_counter() - started


def measure(
    iterations: int, engine_op: Callable[[int], float], bare_op: Callable[[int], float]
) -> tuple[list[float], list[float]]:
    engine: list[float] = []
    bare: list[float] = []
    for i in range(iterations):
        # Alternate which goes first, so neither always runs right after the other.
        if i % 2:
            engine.append(engine_op(i))
            bare.append(bare_op(i))
        else:
            bare.append(bare_op(i))
            engine.append(engine_op(i))
    return engine, bare


def run(ctx: Context) -> list[Figure]:
    iterations = 2000 if ctx.large else 10 if ctx.smoke else 600  # p99 of 300 was the 3rd worst: too noisy
    warmup = 2 if ctx.smoke else 30
    engine, bare, capture = Engine(ctx), Bare(ctx), Capture(ctx)
    member = f"lat-{uuid.uuid4().hex[:8]}"
    params = {"program_id": "default", "member_id": member}
    base = f"/v1/programs/default/members/{member}"
    events_route = "/v1/programs/{program_id}/members/{member_id}/events"
    redeem_route = "/v1/programs/{program_id}/members/{member_id}/redemptions"
    read_route = "/v1/programs/{program_id}/members/{member_id}"

    def earn(i: int) -> float:
        return engine.invoke(
            "earn", "POST", events_route, f"{base}/events", params, order_body(f"{member}-{i}-{uuid.uuid4().hex[:6]}")
        )

    def redeem(i: int) -> float:
        body = {"redemption_id": f"{member}-r{i}-{uuid.uuid4().hex[:6]}", "points": 1}
        return engine.invoke("redeem", "POST", redeem_route, f"{base}/redemptions", params, body)

    def snapshot(_i: int) -> float:
        return engine.invoke("member_reads", "GET", read_route, base, params, None)

    engine.invoke("earn", "POST", events_route, f"{base}/events", params, order_body(f"{member}-seed", "100000"))
    figures: list[Figure] = []
    for name, engine_op, bare_op in (
        ("earn", earn, lambda _i: bare.write(capture.params, capture.read, "default")),
        ("redeem", redeem, lambda _i: bare.write(capture.params, capture.read, "default")),
        (
            "snapshot read",
            snapshot,
            lambda _i: bare.timed_read(
                [("PROGRAM#default", "CONFIG"), (f"PROGRAM#default#MEMBER#{member}", "PROFILE")]
            ),
        ),
    ):
        measure(warmup, engine_op, bare_op)
        timed_engine, timed_bare = measure(iterations, engine_op, bare_op)
        for label, share in (("p50", 0.5), ("p99", 0.99)):
            mine, reference = percentile(timed_engine, share) * 1000, percentile(timed_bare, share) * 1000
            figures.append(
                Figure(
                    f"{name} {label}",
                    mine,
                    "ms",
                    reference,
                    "ms bare",
                    goal=1.3,
                    note="" if label == "p50" else f"{iterations} requests each, warm",
                )
            )
    return figures
