"""Auth on, through the local gateway (as ``make run AUTH=1``): every route with no token, an
expired token, a wrong-scope token, a wrong-member token and the right token; programs; the
body limit; per-member rate limits on DynamoDB Local, raced."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from local import auth as local_auth
from local.engine import DEFAULT_PROGRAM_FILE
from shared import logic, store
from shared.api import RedemptionIn
from tests.integration.conftest import NOW, Api, Reply, direct, order

KEY = bytes(range(32))
DEFAULT = json.loads(DEFAULT_PROGRAM_FILE.read_text())
Mint = Callable[..., str]


@pytest.fixture(scope="module")
def secured(api: Api) -> Api:
    """The same engine behind a gateway that checks tokens (a test key instead of .local/)."""
    return replace(api, auth=local_auth.LocalJwtAuthorizer.from_manifest(api.manifest, key=KEY))


@pytest.fixture(scope="module")
def token(api: Api) -> Mint:
    """``token("member", member_id)``, ``token("backend")``, ``token("admin")``; scopes=, programs=, expired=."""

    def mint(kind: str, member: str | None = None, *, expired: bool = False, **options: Any) -> str:
        if kind == "member":
            programs = options.pop("programs", ["default"])
            claims = local_auth.member_claims(api.manifest, member or "nobody", programs, **options)
        else:
            claims = local_auth.client_claims(api.manifest, kind, **options)
        return local_auth.mint(KEY, claims, int(NOW.timestamp()), expired=expired)

    return mint


def bearer(value: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"} if value else {}


def assert_refused(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.body
    assert set(reply.body) == {"error"}
    assert reply.body["error"]["code"] == code
    assert reply.body["error"]["message"] and isinstance(reply.body["error"]["details"], list)


# Each route: how to call it for member `m`, the right token, a wrong-scope token, a
# wrong-member token, and the status the right token gets.
ROUTES: dict[str, dict[str, Any]] = {
    "GET program": {
        "call": lambda m: ("GET", "/v1/programs/default", None),
        "right": ("admin", {}),
        "wrong_scope": ("backend", {}),
        "status": 200,
    },
    "PUT program": {
        "call": lambda m: ("PUT", f"/v1/programs/p-{m}", DEFAULT),
        "right": ("admin", {}),
        "wrong_scope": ("backend", {}),
        "status": 201,
    },
    "POST events": {
        "call": lambda m: ("POST", f"/v1/programs/default/members/{m}/events", order(f"{m}.e2", "10")),
        "right": ("backend", {}),
        "wrong_scope": ("backend", {"scopes": ["loyalty/redemptions.write", "loyalty/members.read"]}),
        "status": 201,
    },
    "POST redemptions": {
        "call": lambda m: (
            "POST",
            f"/v1/programs/default/members/{m}/redemptions",
            {"redemption_id": f"{m}.r", "points": 5},
        ),
        "right": ("member", {}),
        "wrong_scope": ("backend", {"scopes": ["loyalty/events.write", "loyalty/members.read"]}),
        "status": 201,
    },
    "GET member": {
        "call": lambda m: ("GET", f"/v1/programs/default/members/{m}", None),
        "right": ("member", {}),
        "wrong_scope": ("backend", {"scopes": ["loyalty/events.write"]}),
        "status": 200,
    },
    "GET ledger": {
        "call": lambda m: ("GET", f"/v1/programs/default/members/{m}/ledger", None),
        "right": ("member", {}),
        "wrong_scope": ("admin", {"scopes": ["loyalty/redemptions.write"]}),
        "status": 200,
    },
}
CASES = ["no token", "expired", "wrong scope", "wrong member", "right"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("route", list(ROUTES))
def test_every_route_and_caller(secured: Api, api: Api, token: Mint, member_id: str, route: str, case: str) -> None:
    spec = ROUTES[route]
    assert api.event(member_id, order("seed", "100")).status == 201  # a member with 100 points
    method, path, body = spec["call"](member_id)
    right_kind, right_options = spec["right"]
    tokens = {
        "no token": None,
        "expired": token(right_kind, member_id, expired=True, **right_options),
        "wrong scope": token(spec["wrong_scope"][0], member_id, **spec["wrong_scope"][1]),
        # Another member's token: on member routes the member differs; elsewhere a member
        # token has no business at all.
        "wrong member": token("member", f"{member_id}-other"),
        "right": token(right_kind, member_id, **right_options),
    }
    reply = secured.call(method, path, body, headers=bearer(tokens[case]))
    if case in ("no token", "expired"):
        assert_refused(reply, 401, "UNAUTHENTICATED")
        assert (reply.headers or {}).get("WWW-Authenticate") == "Bearer"
    elif case in ("wrong scope", "wrong member"):
        assert_refused(reply, 403, "FORBIDDEN")
    else:
        assert reply.status == spec["status"], reply.body
    if case != "right" and method != "GET":
        # A refused write changed nothing: the member still has its 100 points and one entry.
        snapshot = api.member(member_id).body
        assert snapshot["points"]["balance"] == 100
        assert len(api.ledger(member_id).body["entries"]) == 1


def test_health_needs_no_token(secured: Api) -> None:
    reply = secured.call("GET", "/health")
    assert (reply.status, reply.body) == (200, {"status": "ok"})


def test_back_end_systems_act_for_any_member(secured: Api, api: Api, token: Mint, member_id: str) -> None:
    backend = bearer(token("backend"))
    earned = secured.call(
        "POST", f"/v1/programs/default/members/{member_id}/events", order(f"{member_id}.e", "50"), headers=backend
    )
    assert earned.status == 201
    redeemed = secured.call(
        "POST",
        f"/v1/programs/default/members/{member_id}/redemptions",
        {"redemption_id": f"{member_id}.r", "points": 20},
        headers=backend,
    )
    assert redeemed.status == 201
    snapshot = secured.call("GET", f"/v1/programs/default/members/{member_id}", headers=backend)
    assert snapshot.body["points"]["balance"] == 30
    operator = secured.call("GET", f"/v1/programs/default/members/{member_id}/ledger", headers=bearer(token("admin")))
    assert operator.status == 200 and len(operator.body["entries"]) == 2


def test_a_member_of_another_program_is_refused(secured: Api, api: Api, token: Mint, member_id: str) -> None:
    api.event(member_id, order("seed", "10"))
    elsewhere = bearer(token("member", member_id, programs=["shop2"]))
    reply = secured.call("GET", f"/v1/programs/default/members/{member_id}", headers=elsewhere)
    assert_refused(reply, 403, "FORBIDDEN")
    mine = bearer(token("member", member_id, programs=["shop2", "default"]))
    assert secured.call("GET", f"/v1/programs/default/members/{member_id}", headers=mine).status == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_garbage_tokens_are_401(secured: Api, header: str) -> None:
    assert_refused(
        secured.call("GET", "/v1/programs/default", headers={"Authorization": header}), 401, "UNAUTHENTICATED"
    )


def test_tokens_of_another_key_issuer_or_audience_are_401(secured: Api, api: Api) -> None:
    claims = local_auth.client_claims(api.manifest, "admin")
    now = int(NOW.timestamp())
    for forged in (
        local_auth.mint(b"another key of 32 bytes, not ours", claims, now),
        local_auth.mint(KEY, claims, now, issuer="https://elsewhere.example"),
        local_auth.mint(KEY, {**claims, "client_id": "not-a-client-of-this-stack"}, now),
    ):
        reply = secured.call("GET", "/v1/programs/default", headers=bearer(forged))
        assert_refused(reply, 401, "UNAUTHENTICATED")


def test_the_function_refuses_a_request_that_reached_it_without_claims(api: Api, member_id: str) -> None:
    # A route deployed without its authorizer: the function still answers 401, never data.
    unguarded = replace(api, auth=None)
    assert_refused(unguarded.call("GET", "/v1/programs/default"), 401, "UNAUTHENTICATED")
    assert_refused(unguarded.member(member_id), 401, "UNAUTHENTICATED")


def test_the_body_limit_holds_with_auth_on(secured: Api, token: Mint, member_id: str) -> None:
    path = f"/v1/programs/default/members/{member_id}/events"
    huge = json.dumps(order("e", "1", note="x" * (64 * 1024))).encode()
    too_big = secured.call("POST", path, raw=huge, headers=bearer(token("backend")))
    assert too_big.status == 422
    assert too_big.body["error"]["details"][0]["field"] == "body"
    # Without a token the size is never looked at: the request is refused first.
    assert_refused(secured.call("POST", path, raw=huge), 401, "UNAUTHENTICATED")


def test_refusals_are_logged_without_tokens_or_member_ids(
    secured: Api, token: Mint, member_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    other = token("member", f"{member_id}-other")
    # The functions log as "loyalty" (POWERTOOLS_SERVICE_NAME); its level depends on who imported it first
    with caplog.at_level(logging.INFO, logger="loyalty"):
        reply = secured.call("GET", f"/v1/programs/default/members/{member_id}", headers=bearer(other))
    assert reply.status == 403
    refused = [r for r in caplog.records if r.getMessage() == "request refused"]
    assert len(refused) == 1
    logged = json.dumps(refused[0].__dict__, default=str)
    assert refused[0].__dict__["reason"] == "member_mismatch"
    assert refused[0].__dict__["route"] == "GET /v1/programs/{program_id}/members/{member_id}"
    assert member_id not in logged and other not in logged and other.split(".")[1] not in logged


# --- member-initiated redemptions ------------------------------------------------------------


def redeem_as(secured: Api, bearer_token: str, member: str, key: str, points: int = 1, at: Any = NOW) -> Reply:
    return secured.call(
        "POST",
        f"/v1/programs/default/members/{member}/redemptions",
        {"redemption_id": f"{member}.{key}", "points": points},
        headers=bearer(bearer_token),
        at=at,
    )


def test_a_member_is_rate_limited_per_minute(secured: Api, api: Api, token: Mint, member_id: str) -> None:
    api.event(member_id, order("seed", "100"))
    mine = token("member", member_id)
    start = NOW.replace(second=0) + timedelta(minutes=7)  # the start of a fresh window
    limit = logic.member_writes_per_window()
    assert limit == 10  # the stage setting reaches the function
    statuses = [redeem_as(secured, mine, member_id, f"r{i}", at=start + timedelta(seconds=i)).status for i in range(10)]
    assert statuses == [201] * 10
    limited = redeem_as(secured, mine, member_id, "r10", at=start + timedelta(seconds=15))
    assert_refused(limited, 429, "RATE_LIMITED")
    assert (limited.headers or {}).get("Retry-After") == "45"
    assert limited.body["error"]["details"] == [{"limit": 10, "window_seconds": 60, "retry_after": 45}]
    assert api.member(member_id).body["points"]["balance"] == 90  # the 11th spent nothing
    # The next minute opens a new window
    assert redeem_as(secured, mine, member_id, "r10", at=start + timedelta(seconds=60)).status == 201


def test_back_end_redemptions_are_not_member_rate_limited(secured: Api, api: Api, token: Mint, member_id: str) -> None:
    api.event(member_id, order("seed", "100"))
    backend = token("backend")
    statuses = [redeem_as(secured, backend, member_id, f"b{i}").status for i in range(15)]
    assert statuses == [201] * 15


def test_rate_items_expire_by_ttl(api: Api, dynamo: Any, member_id: str) -> None:
    window = int(NOW.timestamp()) // 60
    assert store.take_rate_token("default", member_id, window, 3, expires_at=123)
    item = dynamo.get_item(
        TableName=api.table_name,
        Key={"pk": {"S": f"PROGRAM#default#MEMBER#{member_id}"}, "sk": {"S": f"RATE#{window}"}},
        ConsistentRead=True,
    )["Item"]
    assert item["ttl"] == {"N": "123"} and item["count"] == {"N": "1"}
    # The rate item is not a ledger entry: the member has no ledger and no snapshot
    assert api.ledger(member_id).status == 404


def test_concurrent_takes_never_exceed_the_limit(api: Api, member_id: str) -> None:
    window = int(NOW.timestamp()) // 60
    with ThreadPoolExecutor(max_workers=16) as pool:
        taken = list(pool.map(lambda _: store.take_rate_token("default", member_id, window, 7, 0), range(40)))
    assert taken.count(True) == 7


def test_concurrent_member_redemptions_race_to_the_limit(api: Api, member_id: str) -> None:
    api.event(member_id, order("seed", "1000"))
    at = NOW + timedelta(hours=1)

    def redeem(i: int) -> int:
        request = RedemptionIn(redemption_id=f"{member_id}.c{i}", points=3)
        return direct(lambda *a: logic.redeem_points(*a, by_member=True), "default", member_id, request, at)[0]

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(redeem, range(25)))
    assert sorted(statuses) == [201] * 10 + [429] * 15
    assert api.member(member_id, at=at).body["points"]["balance"] == 1000 - 30


def test_a_program_may_forbid_member_redemptions(secured: Api, api: Api, token: Mint, member_id: str) -> None:
    program = f"p-{uuid.uuid4().hex[:8]}"
    config = copy.deepcopy(DEFAULT)
    config["member_redemptions"] = False
    assert api.call("PUT", f"/v1/programs/{program}", config).status == 201
    api.event(member_id, order("seed", "100"), program=program)
    path = f"/v1/programs/{program}/members/{member_id}/redemptions"
    body = {"redemption_id": f"{member_id}.r", "points": 10}
    refused = secured.call("POST", path, body, headers=bearer(token("member", member_id, programs=[program])))
    assert_refused(refused, 403, "FORBIDDEN")
    assert "members" in refused.body["error"]["message"]
    assert api.member(member_id, program=program).body["points"]["balance"] == 100
    # A back-end system may still redeem for the member
    assert secured.call("POST", path, body, headers=bearer(token("backend"))).status == 201
