"""GET a member's snapshot and its ledger."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from shared import startup
from shared.http import MemberIdPath, ProgramIdPath, json_response, lambda_handler, make_resolver, request_time
from shared.logic import member_ledger, member_snapshot

app = make_resolver()


@app.get(
    "/v1/programs/<program_id>/members/<member_id>",
    summary="Member snapshot: tier, growth, points available and every upcoming expiry",
    tags=["members"],
)
def get_member(program_id: ProgramIdPath, member_id: MemberIdPath) -> Response[dict[str, Any]]:
    return json_response(200, member_snapshot(program_id, member_id, request_time(app)))


@app.get(
    "/v1/programs/<program_id>/members/<member_id>/ledger",
    summary="Ledger entries, newest first, paginated with an opaque cursor",
    tags=["members"],
)
def get_ledger(
    program_id: ProgramIdPath,
    member_id: MemberIdPath,
    limit: Annotated[int, Query(ge=1, le=100, description="Entries per page")] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> Response[dict[str, Any]]:
    return json_response(200, member_ledger(program_id, member_id, limit, cursor))


handler = lambda_handler(app)

startup.loaded()  # last: see functions/__init__.py
