"""The authorization decision: every caller kind against every route, from claims alone."""

from __future__ import annotations

from typing import Any

import pytest

from shared import auth
from shared.auth import ADMIN, EVENTS_WRITE, MEMBER, MEMBERS_READ, REDEMPTIONS_WRITE, AuthSettings, authorize
from shared.errors import Forbidden, Unauthenticated

PROGRAM = "GET /v1/programs/{program_id}"
PUT_PROGRAM = "PUT /v1/programs/{program_id}"
EVENTS = "POST /v1/programs/{program_id}/members/{member_id}/events"
REDEEM = "POST /v1/programs/{program_id}/members/{member_id}/redemptions"
SNAPSHOT = "GET /v1/programs/{program_id}/members/{member_id}"
LEDGER = "GET /v1/programs/{program_id}/members/{member_id}/ledger"
REVERSAL = "POST /v1/programs/{program_id}/members/{member_id}/redemptions/{redemption_id}/reversal"

COGNITO = AuthSettings(
    member_claim="username",
    programs_claim="cognito:groups",
    client_programs={"backend-client": frozenset({"*"}), "shop-client": frozenset({"shop2"})},
)
PATH = {"program_id": "default", "member_id": "alice"}


def jwt(claims: dict[str, Any], scopes: list[str] | None = None) -> dict[str, Any]:
    """``requestContext.authorizer`` as API Gateway sends it: claims as strings."""
    return {"jwt": {"claims": claims, "scopes": scopes}}


def member(name: str = "alice", groups: str = "[default]", scope: str = "openid loyalty/member") -> dict[str, Any]:
    return jwt({"sub": "0c1d", "username": name, "cognito:groups": groups, "client_id": "app", "scope": scope})


def client(client_id: str, scope: str, **claims: str) -> dict[str, Any]:
    return jwt({"sub": client_id, "client_id": client_id, "scope": scope, **claims}, scope.split())


def refusal(route: str, authorizer: dict[str, Any] | None, path: dict[str, str] = PATH) -> tuple[int, str]:
    with pytest.raises((Forbidden, Unauthenticated)) as caught:
        authorize(route, path, authorizer, COGNITO)
    return caught.value.status, caught.value.reason  # type: ignore[union-attr]


# --- who may call what ---------------------------------------------------------------------


@pytest.mark.parametrize("route", [SNAPSHOT, LEDGER, REDEEM])
def test_a_member_acts_for_itself(route: str) -> None:
    caller = authorize(route, PATH, member(), COGNITO)
    assert caller is not None and caller.is_member and caller.member_id == "alice"
    assert caller.scopes == {MEMBER}


@pytest.mark.parametrize("route", [SNAPSHOT, LEDGER, REDEEM])
def test_a_member_never_acts_for_another_member(route: str) -> None:
    assert refusal(route, member("bob")) == (403, "member_mismatch")


@pytest.mark.parametrize("route", [PROGRAM, PUT_PROGRAM, EVENTS])
def test_a_member_token_cannot_report_events_or_touch_config(route: str) -> None:
    assert refusal(route, member()) == (403, "missing_scope")


def test_member_id_comparison_is_exact() -> None:
    assert refusal(SNAPSHOT, member("Alice")) == (403, "member_mismatch")
    assert refusal(SNAPSHOT, member("alice "), {"program_id": "default", "member_id": "alice"})[1] == "member_mismatch"


def test_a_member_token_without_its_member_claim_is_refused() -> None:
    token = jwt({"sub": "x", "cognito:groups": "[default]", "scope": MEMBER})
    assert refusal(SNAPSHOT, token) == (403, "no_member_claim")


@pytest.mark.parametrize(
    ("route", "scope"),
    [
        (EVENTS, EVENTS_WRITE),
        (REDEEM, REDEMPTIONS_WRITE),
        (SNAPSHOT, MEMBERS_READ),
        (LEDGER, MEMBERS_READ),
        (SNAPSHOT, ADMIN),
        (PROGRAM, ADMIN),
        (PUT_PROGRAM, ADMIN),
    ],
)
def test_clients_with_the_scope_act_for_any_member(route: str, scope: str) -> None:
    caller = authorize(
        route, {"program_id": "default", "member_id": "anyone"}, client("backend-client", scope), COGNITO
    )
    assert caller is not None and not caller.is_member and caller.member_id is None
    assert caller.scopes == {scope} and caller.client_id == "backend-client"


@pytest.mark.parametrize(
    ("route", "scope"),
    [
        (EVENTS, REDEMPTIONS_WRITE),
        (EVENTS, ADMIN),
        (REDEEM, EVENTS_WRITE),
        (REDEEM, MEMBERS_READ),
        (SNAPSHOT, EVENTS_WRITE),
        (PROGRAM, EVENTS_WRITE),
        (PUT_PROGRAM, MEMBERS_READ),
        (PUT_PROGRAM, "openid"),
    ],
)
def test_a_wrong_scope_is_403(route: str, scope: str) -> None:
    assert refusal(route, client("backend-client", scope)) == (403, "missing_scope")


def test_scopes_are_read_from_the_scope_claim_when_api_gateway_lists_none() -> None:
    token = jwt({"client_id": "backend-client", "scope": f"openid {EVENTS_WRITE}"}, None)
    assert authorize(EVENTS, PATH, token, COGNITO) is not None


def test_a_client_with_member_and_client_scopes_acts_as_a_client() -> None:
    token = client("backend-client", f"{MEMBER} {MEMBERS_READ}", username="alice")
    caller = authorize(SNAPSHOT, {"program_id": "default", "member_id": "bob"}, token, COGNITO)
    assert caller is not None and not caller.is_member


# --- no identity -----------------------------------------------------------------------


@pytest.mark.parametrize("authorizer", [None, {}, {"jwt": None}, {"jwt": {"claims": {}, "scopes": None}}])
def test_no_claims_is_401(authorizer: dict[str, Any] | None) -> None:
    assert refusal(SNAPSHOT, authorizer) == (401, "no_claims")


def test_health_is_public_and_needs_nothing() -> None:
    assert authorize("GET /health", None, None, COGNITO) is None


def test_a_route_without_a_rule_is_refused_whatever_the_token() -> None:
    assert refusal("DELETE /v1/programs/{program_id}", client("backend-client", ADMIN)) == (403, "route_without_rule")


def test_every_route_has_a_rule_and_only_health_is_public() -> None:
    assert {"GET /health"} == auth.PUBLIC_ROUTES
    assert set(auth.ROUTE_SCOPES) == {PROGRAM, PUT_PROGRAM, EVENTS, REDEEM, REVERSAL, SNAPSHOT, LEDGER}
    assert all(auth.ROUTE_SCOPES.values())


# --- programs ----------------------------------------------------------------------------


def test_a_member_uses_only_the_programs_of_its_claim() -> None:
    path = {"program_id": "shop2", "member_id": "alice"}
    assert refusal(SNAPSHOT, member(groups="[default]"), path) == (403, "program_not_allowed")
    assert authorize(SNAPSHOT, path, member(groups="[default shop2]"), COGNITO) is not None


def test_a_wildcard_never_counts_for_a_member() -> None:
    assert refusal(SNAPSHOT, member(groups="[*]")) == (403, "program_not_allowed")


def test_a_client_uses_the_programs_mapped_to_it() -> None:
    token = client("shop-client", EVENTS_WRITE)
    assert authorize(EVENTS, {"program_id": "shop2", "member_id": "m"}, token, COGNITO) is not None
    assert refusal(EVENTS, token) == (403, "program_not_allowed")


def test_an_unknown_client_without_a_programs_claim_gets_no_program() -> None:
    assert refusal(EVENTS, client("stranger", EVENTS_WRITE)) == (403, "program_not_allowed")


def test_a_client_programs_claim_may_grant_every_program() -> None:
    settings = AuthSettings(programs_claim="loyalty:programs")
    token = client("stranger", ADMIN, **{"loyalty:programs": "*"})
    assert authorize(PUT_PROGRAM, {"program_id": "anything"}, token, settings) is not None


def test_azp_names_the_client_when_there_is_no_client_id() -> None:
    token = jwt({"sub": "s@clients", "azp": "shop-client", "scope": EVENTS_WRITE})
    assert authorize(EVENTS, {"program_id": "shop2", "member_id": "m"}, token, COGNITO) is not None


# --- claim forms and settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[default shop2]", ["default", "shop2"]),  # API Gateway's rendering of an array claim
        ("default,shop2", ["default", "shop2"]),
        ("default shop2", ["default", "shop2"]),
        (["default", "shop2"], ["default", "shop2"]),
        ("default", ["default"]),
        ("[]", []),
        ("", []),
        (None, []),
    ],
)
def test_claim_values(value: Any, expected: list[str]) -> None:
    assert auth.claim_values(value) == expected


def test_settings_from_the_environment() -> None:
    settings = AuthSettings.from_environment(
        {
            "AUTH_MEMBER_CLAIM": "username",
            "AUTH_PROGRAMS_CLAIM": "cognito:groups",
            "AUTH_CLIENT_PROGRAMS": "abc=* def=default,shop2  def=shop3",
        }
    )
    assert settings.member_claim == "username" and settings.programs_claim == "cognito:groups"
    assert settings.client_programs == {"abc": {"*"}, "def": {"default", "shop2", "shop3"}}
    defaults = AuthSettings.from_environment({})
    assert (defaults.member_claim, defaults.programs_claim, defaults.client_programs) == ("sub", "loyalty:programs", {})


@pytest.mark.parametrize("text", ["abc", "=default", "abc="])
def test_a_malformed_client_mapping_is_an_error_naming_the_setting(text: str) -> None:
    with pytest.raises(ValueError, match="AUTH_CLIENT_PROGRAMS"):
        auth.parse_client_programs(text)


def test_refusal_messages_name_no_member() -> None:
    for token in (member("bob"), jwt({"sub": "x", "cognito:groups": "[default]", "scope": MEMBER})):
        with pytest.raises(Forbidden) as caught:
            authorize(SNAPSHOT, PATH, token, COGNITO)
        assert "alice" not in caught.value.message and "bob" not in caught.value.message


def test_a_member_may_not_reverse_its_own_redemption() -> None:
    path = {"program_id": "default", "member_id": "alice", "redemption_id": "r1"}
    assert refusal(REVERSAL, member(), path)[0] == 403
