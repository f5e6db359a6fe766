"""GET /health: the one open route. Touches no table and no identity; says the function runs."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import startup
from shared.http import json_response, lambda_handler, make_resolver

app = make_resolver()


@app.get("/health", summary="Liveness check; needs no token", tags=["health"])
def get_health() -> Response[dict[str, Any]]:
    return json_response(200, {"status": "ok"})


handler = lambda_handler(app)

startup.loaded()  # last: see functions/__init__.py
