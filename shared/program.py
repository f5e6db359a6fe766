"""The program config: a validated, versioned document holding every rule's numbers.

Nothing here does I/O. ``ProgramConfig.model_validate`` is the one gate every config passes
(the default program file, ``PUT /v1/programs/{id}``), so a bad rule never reaches the table.

Every number is bounded so that no accepted config can make a number DynamoDB cannot hold (38
significant digits) over a member's lifetime: with an order amount below 10^12 (``MoneyText``),
at most ``MAX_RATE`` points or growth per unit, ``MAX_FACTOR`` for a multiplier or coefficient
and ``MAX_AWARD`` for a fixed award, one event gives less than 10^18, and a member's at most
10^12 ledger entries less than 10^30 (``tests/unit/test_input_hardening.py`` computes it).

Every free text (names, attribute names and values, benefit parameters; in requests too) is
``Text``: no control characters and no lone surrogates (they cannot be stored as UTF-8).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.clock import zone

EventType = Literal["order_completed", "login", "review_approved", "photo_review_approved"]
"""Events the earning rules reward (and that can count as tier activity)."""
EVENT_TYPES: tuple[str, ...] = (*get_args(EventType), "order_refunded")
"""Every event type the events route accepts."""
"""Event types the engine understands (``order_refunded`` arrives with the refunds issue)."""

_NOT_IANA_ZONES = frozenset({"localtime", "posixrules", "Factory"})
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]

TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""One line of text: no control character (Unicode Cc: U+0000-U+001F, U+007F-U+009F)."""
MULTILINE_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""Like ``TEXT_PATTERN``, with tab, line feed and carriage return allowed (notes: description, reason)."""
Text = Annotated[
    str,
    # A pattern makes pydantic read the string as UTF-8 text: a lone surrogate (JSON "\ud800"),
    # which no UTF-8 store can hold, is refused as "unable to parse raw data as a unicode string".
    StringConstraints(pattern=TEXT_PATTERN),
    Field(description="Text: no control characters, no lone surrogates"),
]
"""Every free-text field of a request or a config; give it lengths with another ``StringConstraints``."""
MultilineText = Annotated[
    str,
    StringConstraints(pattern=MULTILINE_TEXT_PATTERN),
    Field(description="Text: tab and line breaks allowed; no other control characters, no lone surrogates"),
]
"""Free-text notes (a redemption's description, a reversal's reason): ``Text`` that may span lines."""
AttributeName = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
"""A member attribute's name (``member_attributes`` of events; ``growth_coefficients[].attribute``)."""
MAX_MEMBER_ATTRIBUTES = 50
"""Names a member's attributes hold at most (names 1-64, values at most 256 characters): 50 x
320 characters x 4 UTF-8 bytes is 64 KB, well inside DynamoDB's 400 KB item. An event that would
leave a member with more names than this (and than it had) is refused (422 ``member_attributes``,
``shared.rules.apply_event``); a ``null`` value removes a name."""

MAX_RATE = 1000
"""Points or growth an order earns per currency unit at most (``points_per_unit``, ``growth_per_unit``)."""
MAX_FACTOR = 100
"""A tier's ``points_multiplier`` or a ``growth_coefficients[].coefficient`` at most."""
MAX_AWARD = 10_000_000
"""A fixed award (login, review, monthly bonus points or growth), a tier threshold or deduction at most."""
MAX_PRICE = 10**12
"""Prices are below it, as order amounts are (``MoneyText``: 12 integer digits)."""
Rate = Annotated[
    Decimal,
    Field(
        ge=0,
        le=MAX_RATE,
        allow_inf_nan=False,
        max_digits=10,
        decimal_places=6,
        description=f"A decimal string from 0 to {MAX_RATE}, at most 6 decimal places",
    ),
]
Factor = Annotated[
    Decimal,
    Field(
        gt=0,
        le=MAX_FACTOR,
        allow_inf_nan=False,
        max_digits=9,
        decimal_places=6,
        description=f"A decimal string above 0, at most {MAX_FACTOR}, at most 6 decimal places",
    ),
]
Price = Annotated[
    Decimal,
    Field(
        ge=0,
        lt=MAX_PRICE,
        allow_inf_nan=False,
        max_digits=18,
        decimal_places=6,
        description="A decimal string from 0 to below 10^12, at most 6 decimal places",
    ),
]
Count = Annotated[int, Field(ge=0, le=MAX_AWARD, description=f"An integer from 0 to {MAX_AWARD}")]
MAX_REDEMPTION_POINTS = 1_000_000_000
"""Points one redemption or reversal moves at most (``shared.api.MAX_POINTS``)."""
MAX_BENEFIT_INTEGER = 2**53 - 1
"""Benefit parameters are for the platform's clients: integers stay exact in JavaScript."""


class _Strict(BaseModel):
    # Unknown keys are mistakes in an admin's config, not extensions: reject them.
    model_config = ConfigDict(extra="forbid", frozen=True)


BenefitParam = (
    Annotated[Text, StringConstraints(max_length=256)]
    | Annotated[int, Field(ge=-MAX_BENEFIT_INTEGER, le=MAX_BENEFIT_INTEGER)]
    | bool
)


class Benefit(_Strict):
    """A named privilege of a tier, with free-form parameters the platform interprets
    (e.g. ``free_shipping_coupons`` with ``{"per_month": 4}``)."""

    code: Code
    name: Annotated[Text, StringConstraints(min_length=1, max_length=128)]
    params: Annotated[dict[Code, BenefitParam], Field(max_length=20)] = {}


class Tier(_Strict):
    code: Code
    name: Annotated[Text, StringConstraints(min_length=1, max_length=64)]
    min_growth: Count
    points_multiplier: Factor = Decimal(1)
    validity_months: Annotated[int, Field(ge=1, le=120)] | None = None
    """Months a tier stays valid from attainment; ``None`` = no anniversary (entry tiers)."""
    anniversary_deduction: Count = 0
    """Growth taken at each anniversary before the tier is re-evaluated."""
    benefits: Annotated[list[Benefit], Field(max_length=50)] = []


class GrowthCoefficient(_Strict):
    """Growth acceleration for members with ``attributes[attribute] == equals``."""

    attribute: AttributeName
    equals: Annotated[Text, StringConstraints(min_length=1, max_length=128)]
    coefficient: Factor


class OrderRule(_Strict):
    """``order_completed``: points = floor(floor(amount) x points_per_unit x tier multiplier);
    growth = floor(amount x growth_per_unit x coefficient)."""

    event_type: Literal["order_completed"]
    points_per_unit: Rate = Decimal(1)
    growth_per_unit: Rate = Decimal(1)
    growth_coefficients: list[GrowthCoefficient] = []
    pending_days: Annotated[int, Field(ge=0, le=365)] = 0
    """Days an order's points stay pending (the return window) before they can be spent."""


class LoginRule(_Strict):
    """``login``: a fixed award for the first ``per_local_day`` logins of a program-local day."""

    event_type: Literal["login"]
    points: Count = 0
    growth: Count = 5
    per_local_day: Annotated[int, Field(ge=1, le=100)] = 1


class ReviewRule(_Strict):
    """``review_approved``: a fixed award when the reviewed item costs at least ``min_item_price``."""

    event_type: Literal["review_approved"]
    points: Count = 0
    growth: Count = 20
    min_item_price: Price = Decimal(20)


class PhotoReviewRule(_Strict):
    """``photo_review_approved``: like a review, only for the first ``max_rank`` photo reviews of an item."""

    event_type: Literal["photo_review_approved"]
    points: Count = 0
    growth: Count = 20
    min_item_price: Price = Decimal(20)
    max_rank: Annotated[int, Field(ge=1, le=1_000_000)] = 10


EarningRule = Annotated[
    OrderRule | LoginRule | ReviewRule | PhotoReviewRule,
    Field(discriminator="event_type"),
]


class MonthlyBonus(_Strict):
    """A bonus, once per program-local calendar month, at the ``min_orders``-th completed order."""

    min_orders: Annotated[int, Field(ge=1, le=1000)] = 3
    points: Count = 0
    growth: Count = 0


class YearEndExpiry(_Strict):
    """Points earned in local year Y expire at the end of year Y + ``years_after``."""

    policy: Literal["year_end"]
    years_after: Annotated[int, Field(ge=0, le=50)] = 1


class RollingExpiry(_Strict):
    """Points earned on local day D expire at the end of day D + ``days``."""

    policy: Literal["rolling_days"]
    days: Annotated[int, Field(ge=1, le=36500)]


class MonthEndExpiry(_Strict):
    """Points earned in local month M expire at the end of month M + ``months_after``."""

    policy: Literal["month_end"]
    months_after: Annotated[int, Field(ge=0, le=600)]


class NeverExpiry(_Strict):
    policy: Literal["never"]


class ExpiryReminders(_Strict):
    """``points.expiring`` goes out once per window per batch (expiry bucket) of points."""

    days_before: Annotated[list[Annotated[int, Field(ge=1, le=366)]], Field(max_length=5)] = [30, 7]

    @field_validator("days_before")
    @classmethod
    def _distinct(cls, days: list[int]) -> list[int]:
        if len(set(days)) != len(days):
            raise ValueError("reminder windows must be distinct")
        return sorted(days, reverse=True)


class RefundPolicy(_Strict):
    """What a refund does when the order's points were already spent.

    ``allow``: the rest is taken from other lots and what is still missing becomes a negative
    balance that later earnings pay back. ``clamp``: the rest is taken from other lots and the
    balance stops at zero (what is missing is forgiven).
    """

    negative_balance: Literal["allow", "clamp"] = "clamp"


class TierPolicy(_Strict):
    """How the tier job judges a member at each anniversary of a tier with a validity."""

    qualifying_events: Annotated[list[EventType], Field(min_length=1, max_length=10)] = ["order_completed"]
    """Event types that count as activity: a member with none during a validity period is inactive."""
    inactive_tier: Code | None = None
    """The tier an inactive member falls to (if its growth does not put it lower); ``None``: the first tier."""


ExpiryPolicy = Annotated[
    YearEndExpiry | RollingExpiry | MonthEndExpiry | NeverExpiry,
    Field(discriminator="policy"),
]


class ProgramConfig(_Strict):
    """One loyalty program's rules. Every number of the default program lives here, not in code."""

    name: Annotated[Text, StringConstraints(min_length=1, max_length=128)]
    time_zone: Annotated[Text, StringConstraints(max_length=64)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    points_per_currency_unit: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    """How many points are worth one unit of currency when used as cash (100 = 1 CNY)."""
    future_skew_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    earning_rules: list[EarningRule]
    monthly_bonus: MonthlyBonus | None = None
    tiers: Annotated[list[Tier], Field(min_length=1, max_length=20)]
    tier_policy: TierPolicy = TierPolicy()
    expiry: ExpiryPolicy
    expiry_reminders: ExpiryReminders = ExpiryReminders()
    refunds: RefundPolicy = RefundPolicy()
    max_points_per_redemption: Annotated[int, Field(ge=1, le=MAX_REDEMPTION_POINTS)] = 10_000_000
    member_redemptions: bool = False
    """Whether members may redeem their own points with a member token (back-end systems always may)."""

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value in _NOT_IANA_ZONES:
            raise ValueError(f"{value!r} is a host alias, not an IANA time zone")
        try:
            zone(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("earning_rules")
    @classmethod
    def _one_rule_per_event(cls, rules: list[EarningRule]) -> list[EarningRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.event_type in seen:
                raise ValueError(f"two rules for event type {rule.event_type!r}")
            seen.add(rule.event_type)
        return rules

    @field_validator("tiers")
    @classmethod
    def _tiers_ascending(cls, tiers: list[Tier]) -> list[Tier]:
        if tiers[0].min_growth != 0:
            raise ValueError("the first tier must start at min_growth 0")
        for index in range(1, len(tiers)):
            lower, upper = tiers[index - 1], tiers[index]
            if upper.min_growth <= lower.min_growth:
                raise ValueError(
                    f"tiers must be in ascending order: tiers[{index}].min_growth ({upper.min_growth}) "
                    f"must be greater than tiers[{index - 1}].min_growth ({lower.min_growth})"
                )
        codes = [t.code for t in tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        return tiers

    @model_validator(mode="after")
    def _bonus_needs_order_rule(self) -> ProgramConfig:
        if self.monthly_bonus is not None and self.rule_for("order_completed") is None:
            raise ValueError("monthly_bonus needs an order_completed earning rule")
        return self

    @model_validator(mode="after")
    def _inactive_tier_exists(self) -> ProgramConfig:
        code = self.tier_policy.inactive_tier
        if code is not None and code not in {t.code for t in self.tiers}:
            raise ValueError(f"tier_policy.inactive_tier {code!r} is not one of the tiers")
        return self

    def inactive_tier(self) -> Tier:
        """The tier an inactive member falls to at an anniversary."""
        code = self.tier_policy.inactive_tier
        return self.tier(code) if code else self.tiers[0]

    def rule_for(self, event_type: str) -> EarningRule | None:
        """The earning rule for ``event_type``, or ``None`` when the program gives nothing for it."""
        for rule in self.earning_rules:
            if rule.event_type == event_type:
                return rule
        return None

    def tier(self, code: str) -> Tier:
        """The tier called ``code``; members keep codes of tiers an admin renamed, so fall back to the first."""
        for tier in self.tiers:
            if tier.code == code:
                return tier
        return self.tiers[0]

    def tier_rank(self, code: str) -> int:
        for rank, tier in enumerate(self.tiers):
            if tier.code == code:
                return rank
        return 0

    def tier_for_growth(self, growth: int) -> Tier:
        """The highest tier whose threshold ``growth`` reaches."""
        chosen = self.tiers[0]
        for tier in self.tiers:
            if growth >= tier.min_growth:
                chosen = tier
        return chosen
