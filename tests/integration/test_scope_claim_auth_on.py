"""Auth on (``make run AUTH=1``): a member token cannot borrow a client scope from ``scp``.

The gateway checks the ``scope`` claim, as API Gateway does; the functions used to read ``scp``
too, so ``scope: loyalty/member`` plus ``scp: loyalty/members.read`` read any member.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from local import auth as local_auth
from shared.auth import ADMIN, MEMBERS_READ, REDEMPTIONS_WRITE
from tests.integration.conftest import NOW, Api, order

KEY = bytes(range(32, 64))


@pytest.fixture(scope="module")
def secured(api: Api) -> Api:
    return replace(api, auth=local_auth.LocalJwtAuthorizer.from_manifest(api.manifest, key=KEY))


def member_token(api: Api, member: str, **extra: Any) -> dict[str, str]:
    claims = {**local_auth.member_claims(api.manifest, member, ["default"]), **extra}
    return {"Authorization": f"Bearer {local_auth.mint(KEY, claims, int(NOW.timestamp()))}"}


@pytest.mark.parametrize("scp", [MEMBERS_READ, f"{MEMBERS_READ} {ADMIN}", [MEMBERS_READ, ADMIN]])
def test_scp_does_not_let_a_member_read_another_member(secured: Api, api: Api, member_id: str, scp: Any) -> None:
    victim = f"{member_id}-victim"
    assert api.event(victim, order("seed", "100")).status == 201
    assert api.event(member_id, order("seed", "10")).status == 201
    headers = member_token(api, member_id, scp=scp)
    for path in (f"/v1/programs/default/members/{victim}", f"/v1/programs/default/members/{victim}/ledger"):
        reply = secured.call("GET", path, headers=headers)
        assert reply.status == 403, reply.body
        assert reply.body["error"]["code"] == "FORBIDDEN"
        assert "points" not in reply.body and "entries" not in reply.body
    # Still the member it is: its own snapshot is fine.
    assert secured.call("GET", f"/v1/programs/default/members/{member_id}", headers=headers).status == 200


def test_scp_does_not_let_a_member_redeem_for_another_member(secured: Api, api: Api, member_id: str) -> None:
    victim = f"{member_id}-victim"
    assert api.event(victim, order("seed", "100")).status == 201
    reply = secured.call(
        "POST",
        f"/v1/programs/default/members/{victim}/redemptions",
        {"redemption_id": f"{victim}.r", "points": 10},
        headers=member_token(api, member_id, scp=REDEMPTIONS_WRITE),
    )
    assert reply.status == 403, reply.body
    assert api.member(victim).body["points"]["balance"] == 100


def test_a_token_with_scopes_only_in_scp_is_refused_by_the_gateway(secured: Api, api: Api, member_id: str) -> None:
    claims = {**local_auth.client_claims(api.manifest, "backend"), "scp": MEMBERS_READ}
    del claims["scope"]
    token = local_auth.mint(KEY, claims, int(NOW.timestamp()))
    reply = secured.call(
        "GET", f"/v1/programs/default/members/{member_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert reply.status == 403 and reply.body["error"]["code"] == "FORBIDDEN"
