"""POST /v1/programs/{program_id}/members/{member_id}/events: report a business event."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit

from shared import startup
from shared.api import EventIn
from shared.http import MemberIdPath, ProgramIdPath, json_response, lambda_handler, make_resolver, metrics, request_time
from shared.logic import report_event

app = make_resolver()


@app.post(
    "/v1/programs/<program_id>/members/<member_id>/events",
    summary="Report a business event; the earning rules turn it into points and growth",
    tags=["members"],
    responses={201: {"description": "Applied"}, 200: {"description": "Replay of an applied event_id"}},
)
def post_event(
    program_id: ProgramIdPath, member_id: MemberIdPath, event: Annotated[EventIn, Body()]
) -> Response[dict[str, Any]]:
    status, body = report_event(program_id, member_id, event, request_time(app))
    if status == 201:
        metrics.add_metric(name="EventsApplied", unit=MetricUnit.Count, value=1)
        if "points_reversed" in body:  # order_refunded
            metrics.add_metric(name="PointsReversed", unit=MetricUnit.Count, value=body["points_reversed"])
        else:
            metrics.add_metric(name="PointsEarned", unit=MetricUnit.Count, value=body["points_earned"])
    return json_response(status, body)


handler = lambda_handler(app)

startup.loaded()  # last: see functions/__init__.py
