"""JSON shapes the API returns. Times are RFC 3339 UTC with ``Z``; points and growth integers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import clock
from shared.program import ProgramConfig
from shared.rules import MemberState, PointsLot, available_points, pending_lots, upcoming_expiries
from shared.store import LedgerEntry, ProgramVersion
from shared.tiers import outlook


def time_text(moment: datetime | None) -> str | None:
    return clock.format_utc(moment) if moment else None


def lots_view(lots: tuple[PointsLot, ...] | list[PointsLot]) -> list[dict[str, Any]]:
    views = []
    for lot in lots:
        view: dict[str, Any] = {"points": lot.points, "expires_at": time_text(lot.expires_at)}
        if lot.available_at is not None:
            view["available_at"] = time_text(lot.available_at)
        views.append(view)
    return views


def snapshot(config: ProgramConfig, state: MemberState, now: datetime) -> dict[str, Any]:
    """The member as a client sees it at ``now``: tier, growth, points and every upcoming expiry."""
    tier = config.tier(state.tier or config.tiers[0].code)
    ahead = outlook(config, state)
    pending = pending_lots(state.lots, now)
    return {
        "program_id": state.program_id,
        "member_id": state.member_id,
        "tier": {
            "code": tier.code,
            "name": tier.name,
            "since": time_text(state.tier_since),
            "valid_until": time_text(state.tier_valid_until),
            "points_multiplier": str(tier.points_multiplier),
            "benefits": [benefit.model_dump(mode="json") for benefit in tier.benefits],
            "next_evaluation_at": time_text(ahead.next_evaluation_at),
            # What to earn before the next evaluation to keep this tier (its deduction included).
            "to_keep": (
                {
                    "growth_needed": ahead.keep_growth_needed,
                    "qualifying_activity_needed": ahead.keep_activity_needed,
                    "anniversary_deduction": tier.anniversary_deduction,
                }
                if ahead.keep_growth_needed is not None
                else None
            ),
            "next_tier": (
                {
                    "code": ahead.next_tier.code,
                    "name": ahead.next_tier.name,
                    "growth_needed": ahead.next_tier_growth_needed,
                }
                if ahead.next_tier is not None
                else None
            ),
        },
        "growth": state.growth,
        "points": {
            "balance": state.points_balance,
            "available": available_points(state.lots, now),
            "pending": sum(lot.points for lot in pending),
            # each pending batch and when it becomes available (the order's return window)
            "pending_lots": lots_view(pending),
            # a refund's points the member had already spent (policy "allow"): earnings pay it first
            "negative_balance": state.points_debt,
            "expiring": lots_view(upcoming_expiries(state.lots, now)),
        },
        "attributes": dict(state.attributes),
        "version": state.version,
        "as_of": clock.format_utc(now),
    }


def ledger_entry(entry: LedgerEntry) -> dict[str, Any]:
    refers = {"redemption_id": entry.redemption_id} if entry.redemption_id else {}
    return {
        "entry_id": entry.seq,
        "kind": entry.kind,
        entry.key_name: entry.key,
        **refers,
        "event_type": entry.event_type,
        "occurred_at": time_text(entry.occurred_at),
        "recorded_at": time_text(entry.recorded_at),
        "points": entry.points,
        "growth": entry.growth,
        "balance_after": entry.balance_after,
        "growth_after": entry.growth_after,
        "tier_after": entry.tier_after,
        "lots": lots_view(entry.lots),
        "awards": list(entry.awards),
        "config_version": entry.config_version,
        "description": entry.description,
    }


def program(version: ProgramVersion) -> dict[str, Any]:
    return {
        "program_id": version.program_id,
        "version": version.version,
        "updated_at": time_text(version.updated_at),
        "config": version.config.model_dump(mode="json"),
    }
