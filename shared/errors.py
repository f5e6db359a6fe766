"""Domain errors. Each carries its HTTP status and error code; ``shared.http`` maps them."""

from __future__ import annotations

from typing import Any


class LoyaltyError(Exception):
    """Base of every error the API reports with the error envelope."""

    status = 500
    code = "INTERNAL"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationFailed(LoyaltyError):
    """The request is malformed; ``details`` name the fields."""

    status = 422
    code = "VALIDATION_ERROR"

    @classmethod
    def field(cls, field: str, message: str, location: str = "body") -> ValidationFailed:
        return cls(f"{field}: {message}", [{"field": field, "in": location, "message": message}])


class NotFound(LoyaltyError):
    status = 404

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ProgramNotFound(NotFound):
    def __init__(self, program_id: str) -> None:
        super().__init__("PROGRAM_NOT_FOUND", f"program {program_id!r} does not exist")


class MemberNotFound(NotFound):
    def __init__(self, member_id: str) -> None:
        super().__init__("MEMBER_NOT_FOUND", f"member {member_id!r} does not exist in this program")


class OrderNotFound(NotFound):
    def __init__(self, order_id: str) -> None:
        super().__init__("ORDER_NOT_FOUND", f"no completed order {order_id!r} was reported for this member")
        self.details = [{"field": "attributes.order_id", "in": "body", "message": "unknown order"}]


class RedemptionNotFound(NotFound):
    def __init__(self, redemption_id: str) -> None:
        super().__init__("REDEMPTION_NOT_FOUND", f"member has no redemption {redemption_id!r}")
        self.details = [{"field": "redemption_id", "in": "path", "message": "unknown redemption"}]


class Conflict(LoyaltyError):
    """A business conflict: the request is well formed but cannot be applied."""

    status = 409

    def __init__(self, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, details)
        self.code = code


class InsufficientPoints(Conflict):
    def __init__(self, requested: int, available: int) -> None:
        super().__init__(
            "INSUFFICIENT_POINTS",
            f"{requested} points requested, {available} available",
            [{"field": "points", "requested": requested, "available": available}],
        )


class RefundExceedsOrder(Conflict):
    def __init__(self, order_id: str, amount: Any, refunded: Any) -> None:
        super().__init__(
            "REFUND_EXCEEDS_ORDER",
            f"order {order_id!r} was {amount}; {refunded} of it is already refunded",
            [{"field": "attributes.refund_amount", "order_amount": str(amount), "already_refunded": str(refunded)}],
        )


class OrderAlreadyReported(Conflict):
    """An order id is unique in its program. ``event_id``: the event that reported it, told only
    to a caller of the same member (another member's caller learns nothing of it)."""

    def __init__(self, order_id: str, event_id: str | None) -> None:
        if event_id is None:
            super().__init__(
                "ORDER_ALREADY_REPORTED",
                f"order {order_id!r} was already reported as completed in this program",
                [{"field": "attributes.order_id"}],
            )
            return
        super().__init__(
            "ORDER_ALREADY_REPORTED",
            f"order {order_id!r} was already reported as completed by event {event_id!r}",
            [{"field": "attributes.order_id", "event_id": event_id}],
        )


class ReversalExceedsRedemption(Conflict):
    def __init__(self, redemption_id: str, requested: int, left: int) -> None:
        super().__init__(
            "REVERSAL_EXCEEDS_REDEMPTION",
            f"{requested} points to reverse, {left} of redemption {redemption_id!r} are left unreversed",
            [{"field": "points", "requested": requested, "left": left}],
        )


class IdempotencyConflict(Conflict):
    def __init__(self, key_name: str, key: str) -> None:
        super().__init__(
            "IDEMPOTENCY_CONFLICT",
            f"{key_name} {key!r} was already used with a different request body",
            [{"field": key_name}],
        )


class VersionConflict(Conflict):
    def __init__(self, expected: int, current: int) -> None:
        super().__init__(
            "VERSION_CONFLICT",
            f"expected version {expected}, current version is {current}",
            [{"field": "If-Match", "expected": expected, "current": current}],
        )


class Busy(LoyaltyError):
    """Contention or throttling outlasted our retries; safe for the client to retry the same key."""

    status = 503
    code = "BUSY"


class Unauthenticated(LoyaltyError):
    """No valid caller identity reached the function (in AWS, API Gateway refuses such requests first)."""

    status = 401
    code = "UNAUTHENTICATED"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """A short, fixed reason for the logs: never a token, a claim value or a member id."""


class Forbidden(LoyaltyError):
    """The caller is known but may not do this: wrong scope, program or member, or a disabled feature."""

    status = 403
    code = "FORBIDDEN"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """A short, fixed reason for the logs: never a token, a claim value or a member id."""


class BusinessTimeNotAllowed(Forbidden):
    """A member's own write happens when it is sent: only back-end systems may state business time."""

    code = "BUSINESS_TIME_NOT_ALLOWED"

    def __init__(self, field: str) -> None:
        super().__init__(
            f"{field}: a member's own request cannot set its business time; leave it out", "member_business_time"
        )
        self.details = [{"field": field, "in": "body", "message": "set by back-end systems only"}]


class RateLimited(LoyaltyError):
    """Too many writes of one member in the current window; ``retry_after`` seconds until the next."""

    status = 429
    code = "RATE_LIMITED"

    def __init__(self, limit: int, window_seconds: int, retry_after: int) -> None:
        super().__init__(
            f"at most {limit} member-initiated writes per {window_seconds} s; retry in {retry_after} s",
            [{"limit": limit, "window_seconds": window_seconds, "retry_after": retry_after}],
        )
        self.retry_after = retry_after
