"""Scopes come from one claim, ``scope``, the one API Gateway's scope check reads.

A token with ``scope: loyalty/member`` and ``scp: loyalty/members.read`` passed API Gateway on a
member route (as a member) and then read other members: the functions took scopes from ``scp``
too. Nor may a scope API Gateway never saw get in through ``jwt.scopes`` or through splitting
the claim differently (commas, brackets) from API Gateway's space-separated reading.
"""

from __future__ import annotations

from typing import Any

import pytest

from local import auth as local_auth
from shared.auth import ADMIN, EVENTS_WRITE, MEMBER, MEMBERS_READ, SCOPE_CLAIM, AuthSettings, authorize, scope_values
from shared.errors import Forbidden

SNAPSHOT = "GET /v1/programs/{program_id}/members/{member_id}"
EVENTS = "POST /v1/programs/{program_id}/members/{member_id}/events"
SETTINGS = AuthSettings(member_claim="username", programs_claim="cognito:groups")
BOB = {"program_id": "default", "member_id": "bob"}


def alice(scopes: list[str] | None = None, **claims: str) -> dict[str, Any]:
    """Member alice's claims as API Gateway hands them over, plus ``claims``."""
    base = {"sub": "0c1d", "username": "alice", "cognito:groups": "[default]", "client_id": "app"}
    return {"jwt": {"claims": {**base, **claims}, "scopes": scopes}}


def reason(route: str, authorizer: dict[str, Any]) -> str:
    with pytest.raises(Forbidden) as caught:
        authorize(route, BOB, authorizer, SETTINGS)
    return caught.value.reason


def test_scope_is_the_claim_api_gateway_checks() -> None:
    assert SCOPE_CLAIM == "scope"


def test_a_member_with_a_read_scope_in_scp_cannot_read_another_member() -> None:
    token = alice(scope=MEMBER, scp=MEMBERS_READ)
    assert reason(SNAPSHOT, token) == "member_mismatch"  # acts as the member it is, not as a reader
    caller = authorize(SNAPSHOT, {**BOB, "member_id": "alice"}, token, SETTINGS)
    assert caller is not None and caller.is_member and caller.scopes == {MEMBER}


@pytest.mark.parametrize("scp", [ADMIN, f"[{MEMBERS_READ}]", [MEMBERS_READ]])
def test_scp_alone_opens_nothing(scp: Any) -> None:
    assert reason(SNAPSHOT, alice(scp=scp)) == "missing_scope"


def test_jwt_scopes_do_not_add_to_the_scope_claim() -> None:
    assert reason(SNAPSHOT, alice([MEMBER, MEMBERS_READ], scope=MEMBER)) == "member_mismatch"
    assert reason(EVENTS, alice([EVENTS_WRITE], scope=MEMBER)) == "missing_scope"


@pytest.mark.parametrize(
    "scope",
    [
        f"{MEMBER} x,{MEMBERS_READ}",  # API Gateway reads "x,loyalty/members.read": no such scope
        f"[x {MEMBER} y,{MEMBERS_READ}]",  # API Gateway reads "[x" and "y,loyalty/members.read]"
    ],
)
def test_the_scope_claim_is_split_on_spaces_only(scope: str) -> None:
    assert MEMBERS_READ not in scope_values(scope)
    assert reason(SNAPSHOT, alice(scope=scope)) == "member_mismatch"


def test_scope_values() -> None:
    assert scope_values(None) == frozenset()
    assert scope_values(f" openid\t{MEMBER}  ") == {"openid", MEMBER}
    assert scope_values([MEMBER, ""]) == {MEMBER}


def test_the_local_gateway_reads_the_same_claim() -> None:
    claims = {"sub": "x", "scope": MEMBER, "scp": MEMBERS_READ}
    assert local_auth.token_scopes(claims) == [MEMBER]
    assert local_auth.authorizer_context(claims)["jwt"]["scopes"] == [MEMBER]
    assert local_auth.token_scopes({"scp": MEMBERS_READ}) == []
    assert local_auth.authorizer_context({"scp": MEMBERS_READ})["jwt"]["scopes"] is None
