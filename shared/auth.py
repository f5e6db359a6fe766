"""Who may call what: the authorization decision, made from claims API Gateway already validated.

In AWS, API Gateway's JWT authorizer checks every token (signature, issuer, audience, expiry)
and the route's scopes before a function runs, and hands the function the token's claims in
``requestContext.authorizer.jwt`` (payload 2.0). Functions never see or verify a token and
import no crypto library; this module only decides, from those claims, whether the caller may
act on the program and member the path names. Pure: no I/O, no clock.

Callers, told apart by the scopes their token carries (its ``scope`` claim, nothing else):

- **members**: end users, scope ``loyalty/member``; read only their own snapshot and ledger
  and redeem only their own points (where the program allows it). The member id is a claim
  (``AUTH_MEMBER_CLAIM``, default ``sub``) and must equal the path's member id.
- **back-end systems**: client credentials with ``loyalty/events.write``,
  ``loyalty/redemptions.write`` or ``loyalty/members.read``; act for any member.
- **operators**: ``loyalty/admin``; program config, and reads of any member.

Every caller must also be allowed the path's program: listed in the token's programs claim
(``AUTH_PROGRAMS_CLAIM``, default ``loyalty:programs``), or, for a client, in the mapping of
client ids to programs (``AUTH_CLIENT_PROGRAMS``: ``"<client id>=<program>,<program> ..."``,
``*`` for every program). ``*`` in a claim counts for clients only: a member always names
its programs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import Forbidden, Unauthenticated

RESOURCE_SERVER = "loyalty"
MEMBER = f"{RESOURCE_SERVER}/member"
MEMBERS_READ = f"{RESOURCE_SERVER}/members.read"
EVENTS_WRITE = f"{RESOURCE_SERVER}/events.write"
REDEMPTIONS_WRITE = f"{RESOURCE_SERVER}/redemptions.write"
ADMIN = f"{RESOURCE_SERVER}/admin"
CLIENT_SCOPES = (EVENTS_WRITE, REDEMPTIONS_WRITE, MEMBERS_READ, ADMIN)
"""Scopes of machine callers (client credentials); ``MEMBER`` is the end users' scope."""

_PROGRAM = "/v1/programs/{program_id}"
_MEMBER = f"{_PROGRAM}/members/{{member_id}}"

PUBLIC_ROUTES = frozenset({"GET /health"})
"""Routes without an authorizer: nothing else is open."""

ROUTE_SCOPES: Mapping[str, tuple[str, ...]] = {
    f"GET {_PROGRAM}": (ADMIN,),
    f"PUT {_PROGRAM}": (ADMIN,),
    f"POST {_MEMBER}/events": (EVENTS_WRITE,),
    f"POST {_MEMBER}/redemptions": (REDEMPTIONS_WRITE, MEMBER),
    # A reversal gives points back (an order cancelled): back-end systems only, never a member.
    f"POST {_MEMBER}/redemptions/{{redemption_id}}/reversal": (REDEMPTIONS_WRITE,),
    f"GET {_MEMBER}": (MEMBERS_READ, ADMIN, MEMBER),
    f"GET {_MEMBER}/ledger": (MEMBERS_READ, ADMIN, MEMBER),
}
"""Route key -> the scopes that open it (any one suffices, as in API Gateway). The CDK app puts
these on each route's authorizer; the functions check them again, so a route deployed without
its scopes still refuses."""

SCOPE_CLAIM = "scope"
"""The one claim scopes are read from, here and by the local gateway: the claim API Gateway's
scope check reads (space-separated, OAuth 2.0). Never ``scp`` or ``jwt.scopes`` as well: a scope
API Gateway did not check must not open anything here."""
EVERY_PROGRAM = "*"
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class AuthSettings:
    """Where the claims live; set per stack (environment variables written by the CDK app)."""

    member_claim: str = "sub"
    programs_claim: str = "loyalty:programs"
    client_programs: Mapping[str, frozenset[str]] | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> AuthSettings:
        return cls(
            member_claim=environ.get("AUTH_MEMBER_CLAIM") or "sub",
            programs_claim=environ.get("AUTH_PROGRAMS_CLAIM") or "loyalty:programs",
            client_programs=parse_client_programs(environ.get("AUTH_CLIENT_PROGRAMS", "")),
        )


@dataclass(frozen=True)
class Caller:
    """An authorized caller: who it is and which of the route's scopes it used."""

    scopes: frozenset[str]
    """The token's scopes that open this route."""
    member_id: str | None
    """The member a member token speaks for; ``None`` for clients."""
    client_id: str | None

    @property
    def is_member(self) -> bool:
        """True when the caller acts as an end user (only the member scope opened the route)."""
        return self.member_id is not None


def parse_client_programs(text: str) -> dict[str, frozenset[str]]:
    """``"clientA=* clientB=default,shop2"`` -> ``{"clientA": {"*"}, "clientB": {"default", "shop2"}}``."""
    mapping: dict[str, frozenset[str]] = {}
    for entry in text.split():
        client, sep, programs = entry.partition("=")
        if not sep or not client or not programs:
            raise ValueError(f"AUTH_CLIENT_PROGRAMS: {entry!r} is not <client id>=<program>[,<program>...]")
        mapping[client] = mapping.get(client, frozenset()) | frozenset(p for p in programs.split(",") if p)
    return mapping


def claim_values(value: Any) -> list[str]:
    """A claim as a list of strings, whichever form it arrives in.

    API Gateway hands every claim over as a string; an array claim becomes ``"[a b c]"``. Direct
    invocations (tests, tools) may pass real lists. Program ids never hold spaces, commas or
    brackets, so splitting is unambiguous.
    """
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(item) for item in value if str(item)]
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [part for part in _SEPARATORS.split(text) if part]


def scope_values(value: Any) -> frozenset[str]:
    """The scopes of a ``scope`` claim: split on whitespace only, as API Gateway and OAuth 2.0 do.

    Not :func:`claim_values`: splitting on commas or stripping brackets would read scopes out of
    a token (``"loyalty/member x,loyalty/members.read"``) that API Gateway never checked. Direct
    invocations (tests, tools) may pass a real list.
    """
    if value is None:
        return frozenset()
    if isinstance(value, list | tuple):
        return frozenset(str(item) for item in value if str(item))
    return frozenset(str(value).split())


def _token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    # One claim only, the one API Gateway's scope check reads (see SCOPE_CLAIM).
    return scope_values(claims.get(SCOPE_CLAIM))


def _allowed_programs(
    claims: Mapping[str, Any], settings: AuthSettings, client_id: str | None, as_member: bool
) -> frozenset[str]:
    programs = set(claim_values(claims.get(settings.programs_claim)))
    if as_member:
        programs.discard(EVERY_PROGRAM)
    elif client_id is not None and settings.client_programs:
        programs.update(settings.client_programs.get(client_id, frozenset()))
    return frozenset(programs)


def authorize(
    route_key: str,
    path_parameters: Mapping[str, str] | None,
    authorizer: Mapping[str, Any] | None,
    settings: AuthSettings,
) -> Caller | None:
    """The caller of ``route_key``, or :class:`Unauthenticated` / :class:`Forbidden`.

    ``authorizer`` is ``requestContext.authorizer`` of the payload 2.0 event. Returns ``None``
    for a public route. Messages name no member id and carry no claim value.
    """
    if route_key in PUBLIC_ROUTES:
        return None
    required = ROUTE_SCOPES.get(route_key)
    if required is None:
        raise Forbidden("this route has no authorization rule", "route_without_rule")
    jwt = (authorizer or {}).get("jwt") or {}
    claims = jwt.get("claims") or {}
    if not claims:
        raise Unauthenticated("a valid bearer token is required", "no_claims")

    granted = _token_scopes(claims) & frozenset(required)
    if not granted:
        raise Forbidden(f"this route needs a token with one of the scopes {', '.join(required)}", "missing_scope")
    as_member = granted == {MEMBER}
    client_id = claims.get("client_id") or claims.get("azp")
    path = path_parameters or {}

    program_id = path.get("program_id")
    if program_id is not None:
        programs = _allowed_programs(claims, settings, client_id, as_member)
        if program_id not in programs and EVERY_PROGRAM not in programs:
            raise Forbidden(f"this token may not act on program {program_id!r}", "program_not_allowed")

    if not as_member:
        return Caller(granted, None, client_id)
    member_id = claims.get(settings.member_claim)
    if not member_id:
        raise Forbidden("this member token names no member", "no_member_claim")
    if path.get("member_id") != member_id:
        raise Forbidden("a member token may only act for its own member", "member_mismatch")
    return Caller(granted, str(member_id), client_id)
