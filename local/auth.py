"""The local stand-in for API Gateway's JWT authorizer, and the tokens it accepts (dev only).

In AWS, API Gateway validates every token before a function runs. Locally the gateway plays
that part, with the authorizer settings of the synthesized template (``infra.local_manifest``):

- **auth off** (``make run``, the default): :class:`AuthOff` lets every request through as a
  local operator holding every client scope and every program, so the quick start needs no
  token. The functions still authorize (they always do); this identity passes.
- **auth on** (``make run AUTH=1``): :class:`LocalJwtAuthorizer` checks the bearer token as API
  Gateway does (signature, issuer, audience or ``client_id``, expiry and not-before against the
  request time, then one of the route's scopes), and refuses with 401/403. Tokens are signed
  with a local key (HS256) generated into ``.local/auth/`` on first use and never committed;
  ``python -m local.token`` mints them.

Either way the function receives ``requestContext.authorizer.jwt`` as API Gateway sends it
(payload 2.0): every claim a string, an array claim as ``"[a b]"``, ``scopes`` a list or null.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from local.dynamodb import ROOT
from shared.auth import SCOPE_CLAIM

KEY_FILE = ROOT / ".local" / "auth" / "jwt-signing.key"
LOCAL_ISSUER = "http://127.0.0.1/local-issuer"
ALGORITHM = "HS256"
AUTH_OFF_ID = "local-auth-off"


class Refusal(Exception):
    """A request the gateway refuses before any function runs."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class GatewayAuth(Protocol):
    def authorize(self, scopes: Sequence[str], headers: Mapping[str, str], now_ms: int) -> dict[str, Any]:
        """``requestContext.authorizer`` for a route needing one of ``scopes``, or :class:`Refusal`."""
        ...


def claim_text(value: Any) -> str:
    """A claim value as API Gateway hands it to a function: always a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(claim_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def token_scopes(claims: Mapping[str, Any]) -> list[str]:
    """The scopes API Gateway reads from a token: its ``scope`` claim, space-separated; never ``scp``."""
    scope = claims.get(SCOPE_CLAIM)
    return str(scope).split() if isinstance(scope, str) else []


def authorizer_context(claims: Mapping[str, Any]) -> dict[str, Any]:
    scopes = token_scopes(claims) or None
    return {"jwt": {"claims": {name: claim_text(value) for name, value in claims.items()}, "scopes": scopes}}


def function_settings(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The claim settings the stack gives its authorized functions (``AUTH_*`` variables)."""
    for function in manifest["functions"].values():
        environment = function["environment"]
        if "AUTH_MEMBER_CLAIM" in environment:
            return {k: str(v) for k, v in environment.items() if k.startswith("AUTH_")}
    raise ValueError("no function of the stack has AUTH_* settings")


def client_scopes(manifest: Mapping[str, Any]) -> list[str]:
    """Every scope a machine client of the stack may hold (not the members' ``openid``/member scope)."""
    from shared.auth import CLIENT_SCOPES

    return [scope for scope in CLIENT_SCOPES if any(scope in c["scopes"] for c in manifest["clients"].values())]


class AuthOff:
    """Auth off: every authorized route is called by a local operator with every client scope."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        programs_claim = function_settings(manifest)["AUTH_PROGRAMS_CLAIM"]
        self._claims = {
            "sub": AUTH_OFF_ID,
            "client_id": AUTH_OFF_ID,
            "token_use": "access",
            "scope": " ".join(client_scopes(manifest)),
            programs_claim: ["*"],
        }

    def authorize(self, scopes: Sequence[str], headers: Mapping[str, str], now_ms: int) -> dict[str, Any]:
        return authorizer_context({**self._claims, "iat": now_ms // 1000, "exp": now_ms // 1000 + 3600})


def signing_key(path: Path = KEY_FILE) -> bytes:
    """The local signing key, created (owner-only) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True)
class LocalJwtAuthorizer:
    """API Gateway's JWT authorizer, locally: the same checks, a local key and issuer."""

    key: bytes
    audience: frozenset[str]
    issuer: str = LOCAL_ISSUER

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], key: bytes | None = None) -> LocalJwtAuthorizer:
        audience: set[str] = set()
        for authorizer in manifest["authorizers"].values():
            audience.update(authorizer["audience"])
        return cls(key if key is not None else signing_key(), frozenset(audience))

    def authorize(self, scopes: Sequence[str], headers: Mapping[str, str], now_ms: int) -> dict[str, Any]:
        import jwt  # dev dependency: only the local gateway verifies tokens

        header = next((v for k, v in headers.items() if k.lower() == "authorization"), "").strip()
        token = header[7:].strip() if header[:7].lower() == "bearer " else header
        if not token:
            raise Refusal(401, "UNAUTHENTICATED", "a bearer token is required (Authorization header)")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                # Expiry is checked below against the request time, as the rest of the engine reads it.
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise Refusal(401, "UNAUTHENTICATED", f"invalid token: {exc}") from None
        now = now_ms / 1000
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
            raise Refusal(401, "UNAUTHENTICATED", "the token has expired")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now:
            raise Refusal(401, "UNAUTHENTICATED", "the token is not valid yet")
        # API Gateway: the aud claim must name an audience; without aud, client_id must.
        audiences = claims.get("aud", claims.get("client_id"))
        named = set(audiences) if isinstance(audiences, list) else {audiences}
        if not named & self.audience:
            raise Refusal(401, "UNAUTHENTICATED", "the token does not have a valid audience")
        held = set(token_scopes(claims))
        if scopes and not held & set(scopes):
            raise Refusal(403, "FORBIDDEN", f"this route needs a token with one of the scopes {', '.join(scopes)}")
        return authorizer_context(claims)


def mint(
    key: bytes,
    claims: Mapping[str, Any],
    now: int,
    ttl_seconds: int = 3600,
    expired: bool = False,
    issuer: str = LOCAL_ISSUER,
) -> str:
    """A signed token with ``claims``, issued at ``now`` (epoch seconds), valid ``ttl_seconds``."""
    import jwt

    issued = now - 2 * ttl_seconds if expired else now
    payload = {**claims, "iss": issuer, "iat": issued, "exp": issued + ttl_seconds, "jti": uuid.uuid4().hex}
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def _client_with(manifest: Mapping[str, Any], scope: str) -> str:
    for client_id, client in manifest["clients"].items():
        if scope in client["scopes"]:
            return str(client_id)
    raise ValueError(f"no app client of the stack may hold {scope}")


def member_claims(
    manifest: Mapping[str, Any], member_id: str, programs: Iterable[str], scopes: Sequence[str] | None = None
) -> dict[str, Any]:
    """Claims of a member's access token, shaped like the stack's issuer (Cognito by default)."""
    from shared.auth import MEMBER

    settings = function_settings(manifest)
    client_id = _client_with(manifest, MEMBER)
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"loyalty-local-member:{member_id}")),
        "client_id": client_id,
        "token_use": "access",
        "scope": " ".join(scopes if scopes is not None else manifest["clients"][client_id]["scopes"]),
        settings["AUTH_PROGRAMS_CLAIM"]: list(programs),
    }
    claims[settings["AUTH_MEMBER_CLAIM"]] = member_id
    return claims


def client_claims(
    manifest: Mapping[str, Any], kind: str, scopes: Sequence[str] | None = None, programs: Iterable[str] = ()
) -> dict[str, Any]:
    """Claims of a client-credentials token of the stack's ``backend`` or ``admin`` client."""
    from shared.auth import ADMIN, EVENTS_WRITE

    client_id = _client_with(manifest, {"backend": EVENTS_WRITE, "admin": ADMIN}[kind])
    claims: dict[str, Any] = {
        "sub": client_id,
        "client_id": client_id,
        "token_use": "access",
        "scope": " ".join(scopes if scopes is not None else manifest["clients"][client_id]["scopes"]),
    }
    programs = list(programs)
    if programs:
        claims[function_settings(manifest)["AUTH_PROGRAMS_CLAIM"]] = programs
    return claims
