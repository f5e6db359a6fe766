"""POST .../members/{member_id}/redemptions: spend points; POST .../redemptions/{id}/reversal: give them back."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit

from shared import startup
from shared.api import RedemptionIn, ReversalIn
from shared.http import (
    MemberIdPath,
    ProgramIdPath,
    RedemptionIdPath,
    caller,
    json_response,
    lambda_handler,
    make_resolver,
    metrics,
    request_time,
)
from shared.logic import redeem_points, reverse_redemption

app = make_resolver()


@app.post(
    "/v1/programs/<program_id>/members/<member_id>/redemptions",
    summary="Spend points, soonest-expiring first",
    tags=["members"],
    responses={
        201: {"description": "Redeemed"},
        200: {"description": "Replay of an applied redemption_id"},
        409: {"description": "INSUFFICIENT_POINTS or IDEMPOTENCY_CONFLICT; nothing changed"},
        429: {"description": "RATE_LIMITED: too many redemptions by this member token; see Retry-After"},
    },
)
def post_redemption(
    program_id: ProgramIdPath, member_id: MemberIdPath, redemption: Annotated[RedemptionIn, Body()]
) -> Response[dict[str, Any]]:
    who = caller(app)
    by_member = who is not None and who.is_member
    status, body = redeem_points(program_id, member_id, redemption, request_time(app), by_member=by_member)
    if status == 201:
        metrics.add_metric(name="PointsRedeemed", unit=MetricUnit.Count, value=redemption.points)
    return json_response(status, body)


@app.post(
    "/v1/programs/<program_id>/members/<member_id>/redemptions/<redemption_id>/reversal",
    summary="Give a redemption's points back to the lots they came from (expired lots are not revived)",
    tags=["members"],
    responses={
        201: {"description": "Reversed"},
        200: {"description": "Replay: the redemption was already reversed"},
        404: {"description": "REDEMPTION_NOT_FOUND: no such redemption for this member"},
    },
)
def post_reversal(
    program_id: ProgramIdPath,
    member_id: MemberIdPath,
    redemption_id: RedemptionIdPath,
    reversal: Annotated[ReversalIn, Body()],
) -> Response[dict[str, Any]]:
    status, body = reverse_redemption(program_id, member_id, redemption_id, reversal, request_time(app))
    if status == 201:
        metrics.add_metric(name="PointsReturned", unit=MetricUnit.Count, value=body["points_returned"])
    return json_response(status, body)


handler = lambda_handler(app)

startup.loaded()  # last: see functions/__init__.py
