"""GET and PUT a program's config (admin)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header

from shared import startup
from shared.http import ProgramIdPath, json_response, lambda_handler, make_resolver, request_time
from shared.logic import program_config, replace_program_config
from shared.program import ProgramConfig

app = make_resolver()


@app.get("/v1/programs/<program_id>", summary="The program's current config and its version", tags=["programs"])
def get_program(program_id: ProgramIdPath) -> Response[dict[str, Any]]:
    return json_response(200, program_config(program_id))


@app.put(
    "/v1/programs/<program_id>",
    summary="Replace the program's config with a new, validated version",
    tags=["programs"],
    responses={201: {"description": "Program created"}, 200: {"description": "Replaced (or unchanged)"}},
)
def put_program(
    program_id: ProgramIdPath,
    config: Annotated[ProgramConfig, Body()],
    if_match: Annotated[
        str | None,
        Header(alias="if-match", pattern=r'^"?\d{1,9}"?$', description="Version the change was based on"),
    ] = None,
) -> Response[dict[str, Any]]:
    expected = int(if_match.strip('"')) if if_match else None
    status, body = replace_program_config(program_id, config, request_time(app), expected)
    return json_response(status, body)


handler = lambda_handler(app)

startup.loaded()  # last: see functions/__init__.py
