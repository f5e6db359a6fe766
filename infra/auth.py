"""Who may call the API: the JWT authorizer every route but ``GET /health`` uses.

By default the stack creates a Cognito user pool: a resource server ``loyalty`` with the scopes
of ``shared.auth``, an app client for members (authorization code + PKCE, scope
``loyalty/member``), a client-credentials client for back-end systems and one for operators.
Members are users of the pool, created by the platform with their member id as username and
added to one group per program they belong to (``default`` is created here).

With ``-c jwt_issuer=https://... -c jwt_audience=a,b`` the stack trusts an existing OIDC issuer
instead and creates no pool; ``-c member_claim``, ``-c programs_claim`` and
``-c client_programs="<client id>=<program>,... "`` say where its tokens carry the member id
and the programs (see ``shared.auth``). No secret is in the template: Cognito keeps the
clients' secrets, and a back end reads its own with ``aws cognito-idp describe-user-pool-client``.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.constants import StageSettings
from infra.nag import acknowledge
from shared import auth

# Fixed logical ids: locally a client's id is its logical id (see infra.local_manifest).
MEMBERS_CLIENT_ID = "MembersAppClient"
BACKEND_CLIENT_ID = "BackendSystemsClient"
OPERATORS_CLIENT_ID = "OperatorsClient"

_SCOPE_DESCRIPTIONS = {
    auth.MEMBER: "A member: read its own snapshot and ledger, redeem its own points",
    auth.EVENTS_WRITE: "Report business events for any member",
    auth.REDEMPTIONS_WRITE: "Redeem points for any member",
    auth.MEMBERS_READ: "Read any member's snapshot and ledger",
    auth.ADMIN: "Operate programs: read and replace their config",
}
_DEFAULT_CALLBACK = "http://localhost:8080/callback"
_ACCESS_TOKEN_VALIDITY = Duration.hours(1)


def _context(scope: Construct, key: str) -> str | None:
    value = scope.node.try_get_context(key)
    return str(value).strip() if value not in (None, "") else None


class LoyaltyAuth(Construct):
    """The API's JWT authorizer and the settings functions need to read its tokens' claims.

    ``environment`` goes to every authorized function (``shared.http`` reads it).
    """

    def __init__(self, scope: Construct, construct_id: str, *, stage: str, settings: StageSettings) -> None:
        super().__init__(scope, construct_id)
        issuer = _context(self, "jwt_issuer")
        self.user_pool: cognito.UserPool | None = None
        if issuer is not None:
            self.authorizer = self._existing_issuer(issuer)
        else:
            self.authorizer = self._user_pool(stage, settings)

    def _existing_issuer(self, issuer: str) -> apigwv2.IHttpRouteAuthorizer:
        if not issuer.startswith("https://"):
            raise ValueError(f"context jwt_issuer must be an https:// URL, got {issuer!r}")
        audience = [a for a in (_context(self, "jwt_audience") or "").split(",") if a.strip()]
        if not audience:
            raise ValueError("context jwt_audience is required with jwt_issuer (comma-separated client ids)")
        client_programs = _context(self, "client_programs") or ""
        auth.parse_client_programs(client_programs)  # refuse a malformed mapping at synth, not at run time
        self.environment = {
            "AUTH_MEMBER_CLAIM": _context(self, "member_claim") or "sub",
            "AUTH_PROGRAMS_CLAIM": _context(self, "programs_claim") or "loyalty:programs",
            "AUTH_CLIENT_PROGRAMS": client_programs,
        }
        return authorizers.HttpJwtAuthorizer(
            "Jwt",
            issuer,
            jwt_audience=[a.strip() for a in audience],
            identity_source=["$request.header.Authorization"],
        )

    def _user_pool(self, stage: str, settings: StageSettings) -> apigwv2.IHttpRouteAuthorizer:
        pool = cognito.UserPool(
            self,
            "Members",
            # The platform creates members (username = member id); nobody signs themselves up.
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True),
            sign_in_case_sensitive=True,
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS if settings.cognito_plus else cognito.FeaturePlan.ESSENTIALS,
            standard_threat_protection_mode=(
                cognito.StandardThreatProtectionMode.FULL_FUNCTION if settings.cognito_plus else None
            ),
            deletion_protection=settings.retain_data,
            removal_policy=settings.removal_policy,
        )
        self.user_pool = pool
        resource_server = pool.add_resource_server(
            "ResourceServer",
            identifier=auth.RESOURCE_SERVER,
            scopes=[
                cognito.ResourceServerScope(scope_name=name.split("/", 1)[1], scope_description=description)
                for name, description in _SCOPE_DESCRIPTIONS.items()
            ],
        )
        # The token endpoint and the members' sign-in pages; the prefix must be unique in the region.
        prefix = _context(self, "auth_domain_prefix") or f"loyalty-{stage}-{Aws.ACCOUNT_ID}"
        pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix))

        callbacks = (_context(self, "member_callback_urls") or _DEFAULT_CALLBACK).split(",")
        members = self._client(
            pool,
            MEMBERS_CLIENT_ID,
            [auth.MEMBER],
            flows=cognito.OAuthFlows(authorization_code_grant=True),
            callback_urls=[url.strip() for url in callbacks],
        )
        backend = self._client(
            pool, BACKEND_CLIENT_ID, [auth.EVENTS_WRITE, auth.REDEMPTIONS_WRITE, auth.MEMBERS_READ], secret=True
        )
        operators = self._client(pool, OPERATORS_CLIENT_ID, [auth.ADMIN], secret=True)
        for client in (members, backend, operators):
            # Scopes are plain strings in the template: the clients need the resource server first.
            client.node.add_dependency(resource_server)
        cognito.CfnUserPoolGroup(
            self,
            "DefaultProgramGroup",
            user_pool_id=pool.user_pool_id,
            group_name="default",
            description="Members of program 'default' (a member token may use the programs of its groups)",
        )
        self.environment = {
            "AUTH_MEMBER_CLAIM": "username",
            "AUTH_PROGRAMS_CLAIM": "cognito:groups",
            # This stack's own machine clients serve every program of the stack.
            "AUTH_CLIENT_PROGRAMS": f"{backend.user_pool_client_id}=* {operators.user_pool_client_id}=*",
        }
        self._acknowledge_findings(pool, settings)
        return authorizers.HttpUserPoolAuthorizer(
            "Cognito",
            pool,
            user_pool_clients=[members, backend, operators],
            identity_source=["$request.header.Authorization"],
        )

    def _client(
        self,
        pool: cognito.UserPool,
        logical_id: str,
        scopes: list[str],
        *,
        flows: cognito.OAuthFlows | None = None,
        callback_urls: list[str] | None = None,
        secret: bool = False,
    ) -> cognito.UserPoolClient:
        client = pool.add_client(
            logical_id,
            generate_secret=secret,
            # No password flows: members sign in through the hosted pages, machines with a secret.
            o_auth=cognito.OAuthSettings(
                flows=flows or cognito.OAuthFlows(client_credentials=True),
                scopes=[cognito.OAuthScope.custom(s) for s in scopes]
                + ([cognito.OAuthScope.OPENID] if callback_urls else []),
                callback_urls=callback_urls,
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=_ACCESS_TOKEN_VALIDITY,
            id_token_validity=_ACCESS_TOKEN_VALIDITY,
        )
        default_child = client.node.default_child
        assert isinstance(default_child, cognito.CfnUserPoolClient)
        default_child.override_logical_id(logical_id)
        # Left out, CloudFormation would allow SRP and custom auth too: refresh tokens only.
        default_child.explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]
        return client

    def _acknowledge_findings(self, pool: cognito.UserPool, settings: StageSettings) -> None:
        acknowledge(
            pool,
            "AwsSolutions-COG2",
            "members of a consumer loyalty program may enable TOTP MFA but are not forced to; a member "
            "token only reads its own data and redeems its own points (rate limited), and machine "
            "callers use client credentials, not passwords",
        )
        if not settings.cognito_plus:
            acknowledge(
                pool,
                "AwsSolutions-COG8",
                "dev and staging hold test members only; the Plus plan (threat protection) is billed per "
                "monthly active user and is on in prod",
            )
