"""Warm handler latency (p50, p99), in process, divided by the bare DynamoDB calls it makes.

Each operation is timed around the Lambda handler call (API Gateway event in, proxy response
out; event building outside the clock), warm: after warm-up requests on the same member.
Its reference is the same DynamoDB requests made with a plain botocore client and nothing
else: for a write the strongly consistent ``BatchGetItem`` of the same 3 keys and a
``TransactWriteItems`` of the same 3 items (copied from the engine's own last transaction,
keys moved aside) with the same kinds of conditions; for a snapshot read the ``BatchGetItem``
of the same 2 keys. Engine and bare calls alternate, so both see the same machine noise.
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
        from local.engine import LambdaContext, import_handler

        self.ctx = ctx
        self.http_event = http_event
        functions = ctx.manifest["functions"]
        self.handlers = {spec["name"]: import_handler(spec["handler"]) for spec in functions.values()}
        self.lambda_context = LambdaContext
        self.epoch = int(NOW.timestamp() * 1000)

    def invoke(self, function: str, method: str, route: str, path: str, params: dict[str, str], body: Any) -> float:
        import json

        event = self.http_event(method, route, path, params, json.dumps(body) if body else None, None, {}, self.epoch)
        context = self.lambda_context(function)
        started = time.perf_counter()
        result = self.handlers[function](event, context)
        elapsed = time.perf_counter() - started
        assert result["statusCode"] in (200, 201), result
        return elapsed


class Capture:
    """The engine's last TransactWriteItems parameters (to copy its items' sizes and shapes)."""

    def __init__(self, ctx: Context) -> None:
        self.params: dict[str, Any] = {}
        ctx.client.meta.events.register(
            "before-parameter-build.dynamodb.TransactWriteItems", self.keep, unique_id="bench-capture"
        )

    def keep(self, params: dict[str, Any], **_kwargs: Any) -> None:
        self.params = copy.deepcopy(params)


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

    def write(self, captured: dict[str, Any], program: str) -> float:
        """BatchGetItem of 3 keys, then the captured transaction's 3 items under bare keys."""
        n = self.version
        member_pk = f"BENCH#{self.run}#MEMBER"
        request_pk = f"BENCH#{self.run}#REQUEST#{n}"
        record, ledger, member = (copy.deepcopy(item["Put"]) for item in captured["TransactItems"])
        record["Item"]["pk"] = {"S": request_pk}
        ledger["Item"]["pk"] = {"S": member_pk}
        ledger["Item"]["sk"] = {"S": f"LEDGER#{n + 1:012d}"}
        member["Item"]["pk"] = {"S": member_pk}
        member["Item"]["version"] = {"N": str(n + 1)}
        for put in (record, ledger, member):
            put.pop("ExpressionAttributeNames", None)
            put.pop("ExpressionAttributeValues", None)
            put.pop("ReturnValuesOnConditionCheckFailure", None)
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        if n:
            member["ConditionExpression"] = "#v = :v"
            member["ExpressionAttributeNames"] = {"#v": "version"}
            member["ExpressionAttributeValues"] = {":v": {"N": str(n)}}
        record["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        started = time.perf_counter()
        self.read([(f"PROGRAM#{program}", "CONFIG"), (member_pk, "PROFILE"), (request_pk, "REQUEST")])
        self.client.transact_write_items(TransactItems=[{"Put": record}, {"Put": ledger}, {"Put": member}])
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
    iterations = 1000 if ctx.large else 300
    warmup = 30
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
        ("earn", earn, lambda _i: bare.write(capture.params, "default")),
        ("redeem", redeem, lambda _i: bare.write(capture.params, "default")),
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
