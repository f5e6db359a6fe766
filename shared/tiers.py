"""Tier anniversaries: deductions, renewals and downgrades. Pure: no I/O, no clock.

A tier with ``validity_months`` is valid until its anniversary. At the anniversary the tier's
``anniversary_deduction`` is taken from growth (never below zero), the tier is re-evaluated from
what is left and, kept or changed, valid for another period. A member with no qualifying
activity in the period ends no higher than the program's inactive tier.

Anniversaries are counted from the attainment instant in the program's time zone, keeping the
local wall time: a tier attained on Feb 29 is next evaluated on Feb 28 in common years and on
Feb 29 in leap years (``clock.add_months`` clamps to the month's end).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared import clock
from shared.program import ProgramConfig, Tier
from shared.rules import MemberState, TierChange

TIER_CHANGED = "tier.changed"

MAX_ANNIVERSARIES_PER_EVALUATION = 200
"""A member overdue by more than this many periods is caught up over several job runs."""


@dataclass(frozen=True)
class AnniversaryStep:
    """What one anniversary did to a member."""

    at: datetime
    tier_before: str
    tier_after: str
    deducted: int
    growth_after: int
    active: bool
    reason: str
    """``renewed``, ``downgrade``, ``inactive`` or ``upgrade`` (a threshold lowered by an admin)."""


@dataclass(frozen=True)
class TierEvaluation:
    state: MemberState
    steps: tuple[AnniversaryStep, ...]

    @property
    def deducted(self) -> int:
        return sum(step.deducted for step in self.steps)

    @property
    def change(self) -> TierChange | None:
        """The member's tier before the first and after the last anniversary, if they differ."""
        first, last = self.steps[0], self.steps[-1]
        if first.tier_before == last.tier_after:
            return None
        reasons = [s.reason for s in self.steps if s.tier_before != s.tier_after]
        return TierChange(first.tier_before, last.tier_after, reasons[-1])


def is_due(state: MemberState, now: datetime) -> bool:
    return state.tier_valid_until is not None and state.tier_valid_until <= now


def next_anniversary(since: datetime, after: datetime, months: int, tz: str) -> datetime:
    """The first anniversary of ``since`` (every ``months``) strictly after ``after``."""
    elapsed = _months_between(since, after, tz)
    periods = max(1, elapsed // months)
    while True:
        candidate = clock.add_months_utc(since, periods * months, tz)
        if candidate > after:
            return candidate
        periods += 1


def _months_between(start: datetime, end: datetime, tz: str) -> int:
    a, b = start.astimezone(clock.zone(tz)), end.astimezone(clock.zone(tz))
    return max(0, (b.year - a.year) * 12 + (b.month - a.month) - 1)


def _lowest(config: ProgramConfig, *tiers: Tier) -> Tier:
    return min(tiers, key=lambda tier: config.tier_rank(tier.code))


def _reason(config: ProgramConfig, before: Tier, after: Tier, active: bool) -> str:
    rank_before, rank_after = config.tier_rank(before.code), config.tier_rank(after.code)
    if rank_after == rank_before:
        return "renewed"
    if rank_after > rank_before:
        return "upgrade"
    return "downgrade" if active else "inactive"


def evaluate_tier(config: ProgramConfig, state: MemberState, now: datetime) -> TierEvaluation | None:
    """Apply every anniversary of ``state``'s tier up to ``now``; ``None`` when none is due."""
    if not is_due(state, now):
        return None
    steps: list[AnniversaryStep] = []
    while is_due(state, now) and len(steps) < MAX_ANNIVERSARIES_PER_EVALUATION:
        state, step = _anniversary(config, state)
        steps.append(step)
    return TierEvaluation(state, tuple(steps))


def _anniversary(config: ProgramConfig, state: MemberState) -> tuple[MemberState, AnniversaryStep]:
    at = state.tier_valid_until
    assert at is not None
    before = config.tier(state.tier or config.tiers[0].code)
    deducted = min(before.anniversary_deduction, state.growth)
    growth = state.growth - deducted
    by_growth = config.tier_for_growth(growth)
    active = state.tier_period_active
    after = by_growth if active else _lowest(config, by_growth, config.inactive_tier(), before)
    tz = config.time_zone
    if after.code == before.code and before.validity_months and state.tier_since is not None:
        since: datetime | None = state.tier_since
        valid_until: datetime | None = next_anniversary(state.tier_since, at, before.validity_months, tz)
    else:
        since = at
        valid_until = clock.add_months_utc(at, after.validity_months, tz) if after.validity_months else None
    last = state.last_qualifying_at
    new_state = replace(
        state,
        growth=growth,
        tier=after.code,
        tier_since=since,
        tier_valid_until=valid_until,
        tier_period_start=at,
        # Qualifying events reported between the anniversary and this evaluation count for the new period.
        tier_period_active=last is not None and last >= at and (valid_until is None or last < valid_until),
    )
    step = AnniversaryStep(
        at, before.code, after.code, deducted, growth, active, _reason(config, before, after, active)
    )
    return new_state, step


@dataclass(frozen=True)
class TierOutlook:
    """What the snapshot tells a member about the next evaluation and the next tier."""

    next_evaluation_at: datetime | None
    keep_growth_needed: int | None
    """Growth still to earn before the next evaluation to keep the tier (``None``: nothing to keep)."""
    keep_activity_needed: bool
    next_tier: Tier | None
    next_tier_growth_needed: int | None


def outlook(config: ProgramConfig, state: MemberState) -> TierOutlook:
    current = config.tier(state.tier or config.tiers[0].code)
    rank = config.tier_rank(current.code)
    higher = config.tiers[rank + 1] if rank + 1 < len(config.tiers) else None
    keep_growth: int | None = None
    keep_activity = False
    if state.tier_valid_until is not None:
        keep_growth = max(0, current.min_growth + current.anniversary_deduction - state.growth)
        keep_activity = not state.tier_period_active and config.tier_rank(config.inactive_tier().code) < rank
    return TierOutlook(
        next_evaluation_at=state.tier_valid_until,
        keep_growth_needed=keep_growth,
        keep_activity_needed=keep_activity,
        next_tier=higher,
        next_tier_growth_needed=max(0, higher.min_growth - state.growth) if higher else None,
    )


def tier_changed(program_id: str, evaluation: TierEvaluation, state: MemberState) -> dict[str, Any] | None:
    """The ``tier.changed`` detail (its ``event_id`` included) of anniversaries that changed
    the tier, or ``None``.

    One shape whoever applied them, the tier job or an earn past an unevaluated anniversary:
    ``state`` is the member as its ledger entry ``state.ledger_seq`` leaves it (for an earn,
    after the event's own growth too)."""
    change = evaluation.change
    if change is None:
        return None
    event_id = f"{TIER_CHANGED}:{program_id}:{state.member_id}:{state.ledger_seq}"
    return {
        "event_id": event_id,
        "program_id": program_id,
        "member_id": state.member_id,
        "old_tier": change.old,
        "new_tier": change.new,
        "reason": change.reason,
        "anniversary": clock.format_utc(evaluation.steps[-1].at),
        "growth_deducted": evaluation.deducted,
        "growth_after": state.growth,
        "valid_until": clock.format_utc(state.tier_valid_until) if state.tier_valid_until else None,
        "ledger_entry_id": state.ledger_seq,
    }


def anniversary_awards(evaluation: TierEvaluation) -> tuple[dict[str, object], ...]:
    """The ledger awards of an evaluation: one per anniversary, with the growth it took."""
    return tuple(
        {
            "rule": "anniversary",
            "points": 0,
            "growth": -step.deducted,
            "reason": f"{clock.format_utc(step.at)}: {step.tier_before} -> {step.tier_after} ({step.reason})",
        }
        for step in evaluation.steps
    )
