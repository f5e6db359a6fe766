"""Use cases: one function per route. They know the domain and the store, nothing of HTTP.

Writes are optimistic: read (one BatchGetItem), compute with the pure rules, write (one
TransactWriteItems conditioned on the member's version). A lost race is retried from the read
with jittered backoff; a replayed client key returns the first response.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared import store, views
from shared.api import EventIn, OrderCompletedEvent, RedemptionIn, event_attributes
from shared.errors import (
    Busy,
    IdempotencyConflict,
    MemberNotFound,
    ProgramNotFound,
    ValidationFailed,
    VersionConflict,
)
from shared.program import ProgramConfig
from shared.rules import BusinessEvent, apply_event, spend_points
from shared.store import AlreadyApplied, LedgerEntry, StaleWrite, StoredResponse

WRITE_BUDGET_SECONDS = 6.0
"""How long a write keeps retrying lost races before answering 503 BUSY: well inside the
functions' 10 s timeout, long enough for a hot member with dozens of concurrent writers."""

T = TypeVar("T")


def _request_hash(program_id: str, member_id: str, body: dict[str, Any]) -> str:
    canonical = json.dumps([program_id, member_id, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _with_retries(attempt: Callable[[], T]) -> T:
    """Run ``attempt`` until it does not raise :class:`StaleWrite`, backing off with full jitter."""
    deadline = time.monotonic() + WRITE_BUDGET_SECONDS
    number = 0
    while True:
        try:
            return attempt()
        except StaleWrite:
            if time.monotonic() >= deadline:
                raise Busy("too many concurrent writes to this member; retry with the same key") from None
            time.sleep(random.uniform(0, min(0.25, 0.005 * 2**number)))
            number += 1


def _replay(
    previous: StoredResponse, request_hash: str, key_name: str, key: str, attempt_id: str = ""
) -> tuple[int, dict[str, Any]]:
    if previous.request_hash != request_hash:
        raise IdempotencyConflict(key_name, key)
    if attempt_id and previous.attempt_id == attempt_id:
        return previous.status, previous.body  # our own write, committed by a resent transaction
    return 200, previous.body


def _check_business_time(config: ProgramConfig, occurred_at: datetime, now: datetime, field: str) -> None:
    if occurred_at > now + timedelta(seconds=config.future_skew_seconds):
        raise ValidationFailed.field(
            field, f"is more than {config.future_skew_seconds} s in the future (request time {views.time_text(now)})"
        )


def report_event(program_id: str, member_id: str, event: EventIn, now: datetime) -> tuple[int, dict[str, Any]]:
    """Apply the earning rules to a reported event; 201 first time, 200 with the same body on replay."""
    body = event.model_dump(mode="json")
    request_hash = _request_hash(program_id, member_id, body)
    attempt_id = uuid.uuid4().hex

    def attempt() -> tuple[int, dict[str, Any]]:
        context = store.load_write_context(program_id, member_id, "event", event.event_id)
        if context.previous is not None:
            return _replay(context.previous, request_hash, "event_id", event.event_id, attempt_id)
        if context.program is None:
            raise ProgramNotFound(program_id)
        config = context.program.config
        _check_business_time(config, event.occurred_at, now, "occurred_at")
        if isinstance(event, OrderCompletedEvent) and event.attributes.currency not in (None, config.currency):
            raise ValidationFailed.field("attributes.currency", f"must be the program's currency {config.currency}")
        before = context.member
        outcome = apply_event(
            config,
            before,
            BusinessEvent(
                event.event_id, event.type, event.occurred_at, event_attributes(event), event.member_attributes
            ),
        )
        seq = before.ledger_seq + 1
        state = replace(
            outcome.state,
            version=before.version + 1,
            ledger_seq=seq,
            created_at=before.created_at or now,
            updated_at=now,
        )
        entry = LedgerEntry(
            seq=seq,
            kind="earn",
            key_name="event_id",
            key=event.event_id,
            event_type=event.type,
            occurred_at=event.occurred_at,
            recorded_at=now,
            points=outcome.points,
            growth=outcome.growth,
            balance_after=state.points_balance,
            growth_after=state.growth,
            tier_after=state.tier,
            lots=(outcome.lot,) if outcome.lot else (),
            awards=tuple(
                {"rule": a.rule, "points": a.points, "growth": a.growth, "reason": a.reason} for a in outcome.awards
            ),
            config_version=context.program.version,
        )
        response = {
            "event_id": event.event_id,
            "type": event.type,
            "occurred_at": views.time_text(event.occurred_at),
            "points_earned": outcome.points,
            "growth_earned": outcome.growth,
            "awards": list(entry.awards),
            "lot": views.lots_view([outcome.lot])[0] if outcome.lot else None,
            "tier_change": (
                {"from": outcome.tier_change.old, "to": outcome.tier_change.new, "reason": outcome.tier_change.reason}
                if outcome.tier_change
                else None
            ),
            "ledger_entry_id": seq,
            "config_version": context.program.version,
            "member": views.snapshot(config, state, now),
        }
        stored = StoredResponse(201, response, request_hash, attempt_id)
        try:
            store.commit_write(state, before.version, entry, "event", request_hash, stored, context.program.version)
        except AlreadyApplied as applied:
            return _replay(applied.stored, request_hash, "event_id", event.event_id, attempt_id)
        return 201, response

    return _with_retries(attempt)


def redeem_points(
    program_id: str, member_id: str, redemption: RedemptionIn, now: datetime
) -> tuple[int, dict[str, Any]]:
    """Spend points, soonest-expiring first; 409 ``INSUFFICIENT_POINTS`` changes nothing."""
    body = redemption.model_dump(mode="json")
    request_hash = _request_hash(program_id, member_id, body)
    attempt_id = uuid.uuid4().hex
    occurred_at = redemption.occurred_at or now

    def attempt() -> tuple[int, dict[str, Any]]:
        context = store.load_write_context(program_id, member_id, "redemption", redemption.redemption_id)
        if context.previous is not None:
            return _replay(context.previous, request_hash, "redemption_id", redemption.redemption_id, attempt_id)
        if context.program is None:
            raise ProgramNotFound(program_id)
        config = context.program.config
        _check_business_time(config, occurred_at, now, "occurred_at")
        if redemption.points > config.max_points_per_redemption:
            raise ValidationFailed.field("points", f"at most {config.max_points_per_redemption} per redemption")
        before = context.member
        if not before.exists:
            raise MemberNotFound(member_id)
        outcome = spend_points(before, redemption.points, occurred_at)
        seq = before.ledger_seq + 1
        state = replace(outcome.state, version=before.version + 1, ledger_seq=seq, updated_at=now)
        entry = LedgerEntry(
            seq=seq,
            kind="redeem",
            key_name="redemption_id",
            key=redemption.redemption_id,
            event_type=None,
            occurred_at=occurred_at,
            recorded_at=now,
            points=-redemption.points,
            growth=0,
            balance_after=state.points_balance,
            growth_after=state.growth,
            tier_after=state.tier,
            lots=outcome.drawn,
            awards=(),
            config_version=context.program.version,
            description=redemption.description,
        )
        response = {
            "redemption_id": redemption.redemption_id,
            "points": redemption.points,
            "occurred_at": views.time_text(occurred_at),
            "drawn": views.lots_view(outcome.drawn),
            "ledger_entry_id": seq,
            "member": views.snapshot(config, state, now),
        }
        stored = StoredResponse(201, response, request_hash, attempt_id)
        try:
            store.commit_write(
                state, before.version, entry, "redemption", request_hash, stored, context.program.version
            )
        except AlreadyApplied as applied:
            return _replay(applied.stored, request_hash, "redemption_id", redemption.redemption_id, attempt_id)
        return 201, response

    return _with_retries(attempt)


def member_snapshot(program_id: str, member_id: str, now: datetime) -> dict[str, Any]:
    """The member's snapshot at ``now``: one request reads the member and the program config."""
    program, state = store.load_member_view(program_id, member_id)
    if program is None:
        raise ProgramNotFound(program_id)
    if state is None:
        raise MemberNotFound(member_id)
    return views.snapshot(program.config, state, now)


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        seq = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        seq, kind = 0, ""
    if kind != "v1" or seq < 1:
        raise ValidationFailed.field("cursor", "is not a cursor this API returned", location="query")
    return seq


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def member_ledger(program_id: str, member_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """Ledger entries newest first; ``next_cursor`` is ``None`` on the last page (one Query)."""
    before = _decode_cursor(cursor) if cursor else None
    entries = store.list_ledger(program_id, member_id, before, limit + 1)
    if not entries and before is None:
        # Every member has at least its first entry: an empty first page means no such member.
        raise MemberNotFound(member_id)
    page = entries[:limit]
    more = len(entries) > limit
    return {
        "entries": [views.ledger_entry(e) for e in page],
        "next_cursor": _encode_cursor(page[-1].seq) if more else None,
    }


def program_config(program_id: str) -> dict[str, Any]:
    program = store.get_program(program_id)
    if program is None:
        raise ProgramNotFound(program_id)
    return views.program(program)


def replace_program_config(
    program_id: str, config: ProgramConfig, now: datetime, if_match: int | None = None
) -> tuple[int, dict[str, Any]]:
    """Store ``config`` as the program's new current version.

    201 when the program is created, 200 when replaced; the same document as the current one
    writes nothing (a PUT is idempotent). ``if_match`` makes the write conditional on the
    version the caller read (409 ``VERSION_CONFLICT`` otherwise); without it the last PUT wins.
    """

    def attempt() -> tuple[int, dict[str, Any]]:
        current = store.get_program(program_id)
        current_version = current.version if current else 0
        if if_match is not None and if_match != current_version:
            raise VersionConflict(if_match, current_version)
        if current is not None and current.config == config:
            return 200, views.program(current)
        saved = store.save_program(program_id, config, current_version, now)
        return (201 if current is None else 200), views.program(saved)

    return _with_retries(attempt)
