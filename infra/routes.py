"""The HTTP routes of the API: the one list the CDK app builds them from.

Tests and the local gateway read routes back from the synthesized template
(see ``infra.local_manifest``), never from a copy of this list. Who may call each route is
``shared.auth.ROUTE_SCOPES`` (the functions check the same table).
"""

from dataclasses import dataclass

HEALTH_PATH = "/health"
BASE_PATH = "/v1/programs/{program_id}"
MEMBER_PATH = f"{BASE_PATH}/members/{{member_id}}"


@dataclass(frozen=True)
class Route:
    """One HTTP route and the name of the function (folder under functions/) serving it."""

    method: str
    path: str
    function: str

    @property
    def key(self) -> str:
        """API Gateway's route key, e.g. ``GET /v1/programs/{program_id}``."""
        return f"{self.method} {self.path}"


ROUTES: tuple[Route, ...] = (
    Route("GET", BASE_PATH, "program_admin"),
    Route("PUT", BASE_PATH, "program_admin"),
    Route("POST", f"{MEMBER_PATH}/events", "earn"),
    Route("POST", f"{MEMBER_PATH}/redemptions", "redeem"),
    Route("POST", f"{MEMBER_PATH}/redemptions/{{redemption_id}}/reversal", "redeem"),
    Route("GET", MEMBER_PATH, "member_reads"),
    Route("GET", f"{MEMBER_PATH}/ledger", "member_reads"),
    Route("GET", HEALTH_PATH, "health"),
)
