"""The tier evaluation job's plan: one member's due anniversaries as one ledger entry + events."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from shared import clock
from shared.jobs import JobWrite
from shared.rules import MemberState
from shared.store import LedgerEntry, OutboxEvent, ProgramVersion
from shared.tiers import TIER_CHANGED, anniversary_awards, evaluate_tier, tier_changed

JOB = "tier"


def plan_tier_evaluation(program: ProgramVersion, state: MemberState, now: datetime) -> JobWrite | None:
    """``None`` when no anniversary of the member's tier is due at ``now``."""
    evaluation = evaluate_tier(program.config, state, now)
    if evaluation is None:
        return None
    seq = state.ledger_seq + 1
    new_state = replace(evaluation.state, version=state.version + 1, ledger_seq=seq, updated_at=now)
    first = evaluation.steps[0]
    awards = anniversary_awards(evaluation)
    entry = LedgerEntry(
        seq=seq,
        kind="tier_evaluation",
        key_name="evaluation_id",
        key=f"tier@{clock.format_utc(first.at)}",
        event_type=None,
        occurred_at=first.at,
        recorded_at=now,
        points=0,
        growth=-evaluation.deducted,
        balance_after=new_state.points_balance,
        growth_after=new_state.growth,
        tier_after=new_state.tier,
        lots=(),
        awards=awards,
        config_version=program.version,
        description=f"tier anniversary: {', '.join(step.reason for step in evaluation.steps)}",
    )
    detail = tier_changed(program.program_id, evaluation, new_state)
    events = [OutboxEvent(detail["event_id"], TIER_CHANGED, detail)] if detail else []
    return JobWrite(new_state, entry, events)
