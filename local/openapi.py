"""The OpenAPI document, generated from the functions' routes and kept in the repo as openapi.json.

python -m local.openapi --write   # regenerate
python -m local.openapi --check   # exit 1 if the checked-in file is stale (run by the tests)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from local.dynamodb import ROOT

DOCUMENT = ROOT / "openapi.json"


def function_modules() -> list[str]:
    """Every function's handler module (one folder per Lambda under functions/)."""
    return sorted(f"functions.{p.parent.name}.handler" for p in (ROOT / "functions").glob("*/handler.py"))


def build_document() -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

    merged = OpenAPIMerge(
        title="Loyalty engine API",
        version="1.0.0",
        description='Points, growth and tiers. Errors: {"error": {"code", "message", "details"}}.',
        on_conflict="error",
    )
    for name in function_modules():
        app = getattr(importlib.import_module(name), "app", None)
        if app is None:
            continue  # a scheduled job, not an API function
        merged.add_schema(json.loads(app.get_openapi_json_schema()))
    document: dict[str, Any] = json.loads(merged.get_openapi_json_schema())
    return with_security(document)


def with_security(document: dict[str, Any]) -> dict[str, Any]:
    """Who may call each operation: an OAuth 2.0 bearer token (JWT) with one of the route's scopes
    (``shared.auth.ROUTE_SCOPES``, the table the CDK authorizers and the functions share)."""
    from shared.auth import PUBLIC_ROUTES, ROUTE_SCOPES

    scopes = sorted({scope for route in ROUTE_SCOPES.values() for scope in route})
    document.setdefault("components", {})["securitySchemes"] = {
        "loyalty": {
            "type": "oauth2",
            "description": "JWT access tokens from the stack's issuer (Cognito by default): members use the "
            "authorization code flow (scope loyalty/member), back-end systems and operators client credentials.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/oauth2/token",
                    "scopes": {scope: f"grants routes that accept {scope}" for scope in scopes},
                }
            },
        }
    }
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            key = f"{method.upper()} {path}"
            if key in PUBLIC_ROUTES:
                operation["security"] = []
            elif key in ROUTE_SCOPES:
                operation["security"] = [{"loyalty": list(ROUTE_SCOPES[key])}]
                operation.setdefault("responses", {}).setdefault("401", {"description": "UNAUTHENTICATED"})
                operation["responses"].setdefault("403", {"description": "FORBIDDEN"})
            else:
                raise ValueError(f"{key}: a route with no authorization rule")
    return document


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOCUMENT.write_text(text)
        print(f"wrote {DOCUMENT.relative_to(ROOT)}")
        return 0
    if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
        print("openapi.json is stale: run `make openapi` and commit it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
