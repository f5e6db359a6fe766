"""Who may call the API, in the template: the stack's Cognito pool by default, or an existing issuer."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infra.app import build_app
from infra.local_manifest import manifest_from_template
from shared import auth

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


def _clients(synth: Synth) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in synth.of_type("AWS::Cognito::UserPoolClient").items()}


def test_members_are_created_by_the_platform_with_a_strong_password_policy(dev: Synth) -> None:
    (pool,) = dev.of_type("AWS::Cognito::UserPool").values()
    props = pool["Properties"]
    assert props["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(policy[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"))
    assert (props["MfaConfiguration"], props["EnabledMfas"]) == ("OPTIONAL", ["SOFTWARE_TOKEN_MFA"])
    assert props["UserPoolTier"] == "ESSENTIALS"


def test_prod_pool_has_threat_protection_and_is_kept(prod: Synth) -> None:
    (pool,) = prod.of_type("AWS::Cognito::UserPool").values()
    assert pool["Properties"]["UserPoolTier"] == "PLUS"
    assert pool["Properties"]["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert pool["Properties"]["DeletionProtection"] == "ACTIVE"
    assert pool["DeletionPolicy"] == "Retain"


def test_resource_server_offers_exactly_the_scopes_the_functions_know(dev: Synth) -> None:
    (server,) = dev.of_type("AWS::Cognito::UserPoolResourceServer").values()
    assert server["Properties"]["Identifier"] == auth.RESOURCE_SERVER
    offered = {f"{auth.RESOURCE_SERVER}/{s['ScopeName']}" for s in server["Properties"]["Scopes"]}
    assert offered == {auth.MEMBER, *auth.CLIENT_SCOPES}


def test_three_callers_three_clients(dev: Synth) -> None:
    clients = _clients(dev)
    assert set(clients) == {"MembersAppClient", "BackendSystemsClient", "OperatorsClient"}
    members, backend, operators = (clients[k] for k in ("MembersAppClient", "BackendSystemsClient", "OperatorsClient"))
    # Members sign in through the hosted pages (code flow, public client, no password flows)
    assert members["AllowedOAuthFlows"] == ["code"] and members["GenerateSecret"] is False
    assert members["AllowedOAuthScopes"] == ["loyalty/member", "openid"]
    # Machines: client credentials with a secret Cognito keeps; never the member scope
    for machine, scopes in ((backend, ["loyalty/events.write", "loyalty/redemptions.write", "loyalty/members.read"]),
                            (operators, ["loyalty/admin"])):  # fmt: skip
        assert machine["AllowedOAuthFlows"] == ["client_credentials"]
        assert machine["GenerateSecret"] is True
        assert machine["AllowedOAuthScopes"] == scopes
    for client in clients.values():
        assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]  # no password flows
        assert client["AccessTokenValidity"] == 60 and client["TokenValidityUnits"]["AccessToken"] == "minutes"


def test_clients_wait_for_the_resource_server(dev: Synth) -> None:
    (server_id,) = dev.of_type("AWS::Cognito::UserPoolResourceServer")
    for client_id, client in dev.of_type("AWS::Cognito::UserPoolClient").items():
        assert server_id in client.get("DependsOn", []), client_id


def test_the_default_program_has_its_member_group(dev: Synth) -> None:
    (group,) = dev.of_type("AWS::Cognito::UserPoolGroup").values()
    assert group["Properties"]["GroupName"] == "default"


def test_the_pool_domain_serves_the_token_endpoint(dev: Synth) -> None:
    (domain,) = dev.of_type("AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"]["Domain"] == {"Fn::Join": ["", ["loyalty-dev-", {"Ref": "AWS::AccountId"}]]}


def _synth_with(context: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="loyalty-auth-") as outdir:
        assembly = build_app("dev", outdir, template_only=True, context=context).synth()
        return dict(json.loads(Path(assembly.get_stack_by_name("Loyalty-dev").template_full_path).read_text()))


def test_an_existing_issuer_replaces_the_pool() -> None:
    template = _synth_with(
        {
            "jwt_issuer": "https://login.example.com/",
            "jwt_audience": "loyalty-api,ops-console",
            "member_claim": "uid",
            "programs_claim": "https://example.com/programs",
            "client_programs": "checkout-service=* shop2-service=shop2",
        }
    )
    types = {r["Type"] for r in template["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::Cognito::")}
    (authorizer,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Authorizer"]
    assert authorizer["Properties"]["JwtConfiguration"] == {
        "Issuer": "https://login.example.com/",
        "Audience": ["loyalty-api", "ops-console"],
    }
    manifest = manifest_from_template("Loyalty-dev", template)
    redeem = next(f for f in manifest["functions"].values() if f["name"] == "redeem")
    assert {k: v for k, v in redeem["environment"].items() if k.startswith("AUTH_")} == {
        "AUTH_MEMBER_CLAIM": "uid",
        "AUTH_PROGRAMS_CLAIM": "https://example.com/programs",
        "AUTH_CLIENT_PROGRAMS": "checkout-service=* shop2-service=shop2",
    }
    assert all(r["authorization"] == "JWT" for r in manifest["routes"] if r["path"] != "/health")


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"jwt_issuer": "http://login.example.com/", "jwt_audience": "a"}, "jwt_issuer must be an https"),
        ({"jwt_issuer": "https://login.example.com/"}, "jwt_audience is required"),
        ({"jwt_issuer": "https://login.example.com/", "jwt_audience": "a", "client_programs": "x"}, "AUTH_CLIENT"),
    ],
)
def test_bad_issuer_context_fails_the_synth_naming_the_setting(context: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _synth_with(context)
