"""The expiry sweep's plan: expire what is due, announce what is about to expire.

One member, one transaction: an ``expire`` ledger entry for the points that expired (with the
lots they came from), the member without them, and the outbox events: ``points.expired`` and
one ``points.expiring`` per batch of points entering a reminder window.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from shared import clock
from shared.jobs import JobWrite
from shared.points import sweep
from shared.rules import MemberState
from shared.store import LedgerEntry, OutboxEvent, ProgramVersion

JOB = "expiry"
POINTS_EXPIRED = "points.expired"
POINTS_EXPIRING = "points.expiring"


def plan_expiry_sweep(program: ProgramVersion, state: MemberState, now: datetime) -> JobWrite | None:
    """``None`` when nothing of the member expires or enters a reminder window by ``now``."""
    outcome = sweep(state, now)
    if outcome is None:
        return None
    expired = outcome.expired_points
    seq = state.ledger_seq + 1 if expired else state.ledger_seq
    new_state = replace(outcome.state, version=state.version + 1, ledger_seq=seq, updated_at=now)
    entry: LedgerEntry | None = None
    events: list[OutboxEvent] = []
    base = {"program_id": program.program_id, "member_id": state.member_id}
    if expired:
        first = min(lot.expires_at for lot in outcome.expired if lot.expires_at)
        entry = LedgerEntry(
            seq=seq,
            kind="expire",
            key_name="expiry_id",
            key=f"expiry@{clock.format_utc(first)}",
            event_type=None,
            occurred_at=first,
            recorded_at=now,
            points=-expired,
            growth=0,
            balance_after=new_state.points_balance,
            growth_after=new_state.growth,
            tier_after=new_state.tier,
            lots=outcome.expired,
            awards=(),
            config_version=program.version,
            description=f"{expired} points expired",
        )
        event_id = f"{POINTS_EXPIRED}:{program.program_id}:{state.member_id}:{seq}"
        events.append(
            OutboxEvent(
                event_id,
                POINTS_EXPIRED,
                {
                    "event_id": event_id,
                    **base,
                    "points": expired,
                    "lots": [
                        {"points": lot.points, "expires_at": clock.format_utc(lot.expires_at)}
                        for lot in outcome.expired
                        if lot.expires_at
                    ],
                    "balance_after": new_state.points_balance,
                    "ledger_entry_id": seq,
                },
            )
        )
    for reminder in outcome.reminders:
        # One per batch (expiry instant) and window: the id says which, so a repeat is recognisable.
        batch = f"{clock.format_utc(reminder.expires_at)}:{reminder.days_before}d"
        event_id = f"{POINTS_EXPIRING}:{program.program_id}:{state.member_id}:{new_state.version}:{batch}"
        events.append(
            OutboxEvent(
                event_id,
                POINTS_EXPIRING,
                {
                    "event_id": event_id,
                    **base,
                    "points": reminder.points,
                    "expires_at": clock.format_utc(reminder.expires_at),
                    "days_before": reminder.days_before,
                },
            )
        )
    return JobWrite(new_state, entry, events)
