"""Request models of the HTTP API: what a client may send, validated before any logic runs.

Amounts are decimal *strings* (a JSON number is refused: floats lose cents); points are
integers (``10.0`` and ``"10"`` are refused). Ids are 1-128 characters without ``#``. Times
are RFC 3339 date-times with an offset (``2026-11-22T08:00:00Z``; no Unix numbers). Free text
is ``shared.program.Text``: no control characters, no lone surrogates.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
)

from shared.ids import ID_PATTERN
from shared.program import (
    MAX_MEMBER_ATTRIBUTES,
    MAX_REDEMPTION_POINTS,
    AttributeName,
    MultilineText,
    Text,
)

Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID_PATTERN)]
MAX_POINTS = MAX_REDEMPTION_POINTS


def _must_be_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string (decimal amounts and timestamps are sent as strings)")
    return value


MoneyText = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,4})?$"),
    BeforeValidator(_must_be_text),
    Field(description='A non-negative decimal amount as a string, e.g. "199.90"'),
]
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _not_before_1970(value: datetime) -> datetime:
    # Business times are stored in UTC: one that has no UTC form (0001-01-01T00:30+01:00)
    # or precedes any loyalty history is a client's mistake, refused here rather than stored.
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if utc < EARLIEST:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")
    return value


# RFC 3339 section 5.6 (T and Z in either case), fractions up to nanoseconds (kept to the
# microsecond). The offset is optional here only so that a missing one is reported by
# AwareDatetime as ``timezone_aware``; everything else (Unix times such as "20261122" or "0",
# which pydantic would read as seconds since 1970, dates alone, "+0800") is refused here.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)


def _rfc3339_text(value: Any) -> Any:
    if not _RFC3339.fullmatch(_must_be_text(value)):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-22T08:00:00Z")
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_not_before_1970),
    Field(
        description="RFC 3339 with an offset, e.g. 2026-11-22T08:00:00Z or 2026-11-22T08:00:00.123+08:00; "
        "not before 1970"
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Attributes(BaseModel):
    # Client systems attach more facts than the rules read (SKUs, channels); keep them out of
    # the way instead of refusing the event.
    model_config = ConfigDict(extra="ignore")


class OrderCompletedAttributes(_Attributes):
    order_id: Id
    settled_amount: MoneyText
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None


class OrderRefundedAttributes(_Attributes):
    order_id: Id
    refund_amount: MoneyText | None = Field(
        default=None, description="The amount refunded; absent: everything not yet refunded (a full refund)"
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None


class LoginAttributes(_Attributes):
    channel: Annotated[Text, StringConstraints(max_length=64)] | None = None


class ReviewAttributes(_Attributes):
    item_id: Id
    item_price: MoneyText
    order_id: Id | None = None


class PhotoReviewAttributes(ReviewAttributes):
    rank: Annotated[StrictInt, Field(ge=1, le=MAX_POINTS, description="1 for the item's first photo review")]


MAX_ATTRIBUTES_PER_EVENT = 20


def _short_map(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_ATTRIBUTES_PER_EVENT:
        raise ValueError(f"at most {MAX_ATTRIBUTES_PER_EVENT} member attributes per event")
    return value


AttributeValue = Annotated[Text, StringConstraints(max_length=256), BeforeValidator(_must_be_text)]
AttributeChange = AttributeValue | None
"""A member attribute's new value; ``None`` removes the name."""
MemberAttributes = Annotated[
    dict[AttributeName, AttributeChange],
    AfterValidator(_short_map),
    Field(
        description=f"Facts about the member (e.g. account_type=kol) kept on the member; null removes one. "
        f"Names 1-64 characters, values at most 256, at most {MAX_ATTRIBUTES_PER_EVENT} per event and "
        f"{MAX_MEMBER_ATTRIBUTES} kept per member (a new name past it: 422)"
    ),
]


class _EventBase(_Body):
    event_id: Id
    occurred_at: Timestamp
    member_attributes: MemberAttributes = Field(default_factory=dict)


class OrderCompletedEvent(_EventBase):
    type: Literal["order_completed"]
    attributes: OrderCompletedAttributes


class OrderRefundedEvent(_EventBase):
    type: Literal["order_refunded"]
    attributes: OrderRefundedAttributes


class LoginEvent(_EventBase):
    type: Literal["login"]
    attributes: LoginAttributes = Field(default_factory=LoginAttributes)


class ReviewApprovedEvent(_EventBase):
    type: Literal["review_approved"]
    attributes: ReviewAttributes


class PhotoReviewApprovedEvent(_EventBase):
    type: Literal["photo_review_approved"]
    attributes: PhotoReviewAttributes


EventIn = Annotated[
    OrderCompletedEvent | OrderRefundedEvent | LoginEvent | ReviewApprovedEvent | PhotoReviewApprovedEvent,
    Field(discriminator="type"),
]


class RedemptionIn(_Body):
    redemption_id: Id
    points: Annotated[StrictInt, Field(gt=0, le=MAX_POINTS)]
    occurred_at: Timestamp | None = Field(default=None, description="Business time; the request time if absent")
    description: Annotated[MultilineText, StringConstraints(max_length=256)] | None = None


class ReversalIn(_Body):
    """A redemption given back (an order cancelled, a coupon not used): all of it, or ``points``
    of it (a part refunded), as many times as there is something left, each with its own key."""

    reversal_id: Id | None = Field(
        default=None,
        description="This reversal's key, for partial reversals; absent: the redemption id is the key "
        "(one reversal of everything left, or of `points`)",
    )
    points: Annotated[StrictInt, Field(gt=0, le=MAX_POINTS)] | None = Field(
        default=None, description="Points to give back, at most what is left unreversed; absent: all that is left"
    )
    occurred_at: Timestamp | None = Field(default=None, description="Business time; the request time if absent")
    reason: Annotated[MultilineText, StringConstraints(max_length=256)] | None = None


def event_attributes(
    event: OrderCompletedEvent | OrderRefundedEvent | LoginEvent | ReviewApprovedEvent | PhotoReviewApprovedEvent,
) -> dict:
    """The event's attributes as the rules read them: amounts as ``Decimal``."""
    values: dict[str, Any] = event.attributes.model_dump()
    for name in ("settled_amount", "item_price", "refund_amount"):
        if values.get(name) is not None:
            values[name] = Decimal(values[name])
    return values
