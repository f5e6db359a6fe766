"""Mint a test token for the local gateway with auth on (``make run AUTH=1``).

    python -m local.token --member alice                 # member alice of program default
    python -m local.token --member bob --program shop2   # member of another program
    python -m local.token --kind backend                 # back-end system: events, redemptions, reads
    python -m local.token --kind admin                   # operator: program config
    python -m local.token --kind backend --scope loyalty/members.read   # only this scope
    python -m local.token --member alice --expired       # already expired

Prints the token alone on stdout (``TOKEN=$(make -s token MEMBER=alice)``) and what it holds
on stderr. Tokens are signed with the local key in .local/auth/ (created on first use); the
claims have the shape of the stack's issuer (a Cognito access token by default), with the
clients and claim names read from the synthesized CDK app.
"""

from __future__ import annotations

import argparse
import sys
import time

from local import auth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=["member", "backend", "admin"], help="default: member with --member")
    parser.add_argument("--member", help="the member id a member token speaks for")
    parser.add_argument(
        "--program", action="append", default=None, help="a program the token may use (repeatable; members: default)"
    )
    parser.add_argument("--scope", action="append", default=None, help="hold exactly these scopes (repeatable)")
    parser.add_argument("--expired", action="store_true", help="mint a token that has already expired")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid (default 3600)")
    parser.add_argument("--stage", default="dev", help="CDK stage whose clients and claims to use")
    args = parser.parse_args(argv)

    kind = args.kind or ("member" if args.member else None)
    if kind is None:
        parser.error("say --member <id> or --kind backend|admin")
    if kind == "member" and not args.member:
        parser.error("a member token needs --member <id>")
    if kind != "member" and args.member:
        parser.error("--member is for member tokens only")

    from infra.local_manifest import synth_manifest

    manifest = synth_manifest(args.stage)
    if kind == "member":
        programs = args.program or ["default"]
        claims = auth.member_claims(manifest, args.member, programs, args.scope)
    else:
        claims = auth.client_claims(manifest, kind, args.scope, args.program or ())
    token = auth.mint(auth.signing_key(), claims, int(time.time()), args.ttl, args.expired)
    state = "expired" if args.expired else f"valid {args.ttl} s"
    print(f"{kind} token ({state}): {claims}", file=sys.stderr)
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
