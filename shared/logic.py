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
import os
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
    Forbidden,
    IdempotencyConflict,
    MemberNotFound,
    ProgramNotFound,
    RateLimited,
    ValidationFailed,
    VersionConflict,
)
from shared.program import ProgramConfig
from shared.rules import BusinessEvent, MemberState, apply_event, spend_points
from shared.store import AlreadyApplied, LedgerEntry, ProgramVersion, StaleWrite, StoredResponse

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


Plan = Callable[[store.WriteContext, ProgramVersion], tuple[MemberState, LedgerEntry, dict[str, Any]]]


def _member_write(
    program_id: str, member_id: str, kind: str, key_name: str, key: str, body: dict[str, Any], plan: Plan
) -> tuple[int, dict[str, Any]]:
    """The write protocol every member write shares: replay or read, plan, commit, retry.

    ``plan`` turns what was read into the new member state, its ledger entry and the response
    body (it may raise a domain error: nothing is written then).
    """
    request_hash = _request_hash(program_id, member_id, body)
    attempt_id = uuid.uuid4().hex

    def attempt() -> tuple[int, dict[str, Any]]:
        context = store.load_write_context(program_id, member_id, kind, key)
        if context.previous is not None:
            return _replay(context.previous, request_hash, key_name, key, attempt_id)
        if context.program is None:
            raise ProgramNotFound(program_id)
        state, entry, response = plan(context, context.program)
        stored = StoredResponse(201, response, request_hash, attempt_id)
        try:
            store.commit_write(
                state, context.member.version, entry, kind, request_hash, stored, context.program.version
            )
        except AlreadyApplied as applied:
            return _replay(applied.stored, request_hash, key_name, key, attempt_id)
        return 201, response

    return _with_retries(attempt)


def _next_version(before: MemberState, after: MemberState, now: datetime) -> MemberState:
    """``after`` as the member's next version, with the next ledger sequence number."""
    return replace(
        after,
        version=before.version + 1,
        ledger_seq=before.ledger_seq + 1,
        created_at=before.created_at or now,
        updated_at=now,
    )


def report_event(program_id: str, member_id: str, event: EventIn, now: datetime) -> tuple[int, dict[str, Any]]:
    """Apply the earning rules to a reported event; 201 first time, 200 with the same body on replay."""

    def plan(context: store.WriteContext, program: ProgramVersion) -> tuple[MemberState, LedgerEntry, dict[str, Any]]:
        config = program.config
        _check_business_time(config, event.occurred_at, now, "occurred_at")
        if isinstance(event, OrderCompletedEvent) and event.attributes.currency not in (None, config.currency):
            raise ValidationFailed.field("attributes.currency", f"must be the program's currency {config.currency}")
        business_event = BusinessEvent(
            event.event_id, event.type, event.occurred_at, event_attributes(event), event.member_attributes
        )
        outcome = apply_event(config, context.member, business_event)
        state = _next_version(context.member, outcome.state, now)
        awards = tuple(
            {"rule": a.rule, "points": a.points, "growth": a.growth, "reason": a.reason} for a in outcome.awards
        )
        entry = LedgerEntry(
            seq=state.ledger_seq,
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
            awards=awards,
            config_version=program.version,
        )
        change = outcome.tier_change
        response = {
            "event_id": event.event_id,
            "type": event.type,
            "occurred_at": views.time_text(event.occurred_at),
            "points_earned": outcome.points,
            "growth_earned": outcome.growth,
            "awards": list(awards),
            "lot": views.lots_view([outcome.lot])[0] if outcome.lot else None,
            "tier_change": {"from": change.old, "to": change.new, "reason": change.reason} if change else None,
            "ledger_entry_id": state.ledger_seq,
            "config_version": program.version,
            "member": views.snapshot(config, state, now),
        }
        return state, entry, response

    body = event.model_dump(mode="json")
    return _member_write(program_id, member_id, "event", "event_id", event.event_id, body, plan)


def redeem_points(
    program_id: str, member_id: str, redemption: RedemptionIn, now: datetime, *, by_member: bool = False
) -> tuple[int, dict[str, Any]]:
    """Spend points, soonest-expiring first; 409 ``INSUFFICIENT_POINTS`` changes nothing.

    ``by_member``: the member asked itself (a member token), not a back-end system. Such writes
    are rate limited per member, and refused (403) where the program does not allow them.
    """
    occurred_at = redemption.occurred_at or now
    if by_member:
        limit_member_writes(program_id, member_id, now)

    def plan(context: store.WriteContext, program: ProgramVersion) -> tuple[MemberState, LedgerEntry, dict[str, Any]]:
        config = program.config
        if by_member and not config.member_redemptions:
            raise Forbidden("this program does not let members redeem points themselves", "member_redemptions_off")
        _check_business_time(config, occurred_at, now, "occurred_at")
        if redemption.points > config.max_points_per_redemption:
            raise ValidationFailed.field("points", f"at most {config.max_points_per_redemption} per redemption")
        if not context.member.exists:
            raise MemberNotFound(member_id)
        outcome = spend_points(context.member, redemption.points, occurred_at)
        state = _next_version(context.member, outcome.state, now)
        entry = LedgerEntry(
            seq=state.ledger_seq,
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
            config_version=program.version,
            description=redemption.description,
        )
        response = {
            "redemption_id": redemption.redemption_id,
            "points": redemption.points,
            "occurred_at": views.time_text(occurred_at),
            "drawn": views.lots_view(outcome.drawn),
            "ledger_entry_id": state.ledger_seq,
            "member": views.snapshot(config, state, now),
        }
        return state, entry, response

    body = redemption.model_dump(mode="json")
    key = redemption.redemption_id
    return _member_write(program_id, member_id, "redemption", "redemption_id", key, body, plan)


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


MEMBER_WRITE_WINDOW_SECONDS = 60
DEFAULT_MEMBER_WRITES_PER_WINDOW = 10


def member_writes_per_window() -> int:
    """Member-initiated writes allowed per member and window: the stack sets ``MEMBER_WRITES_PER_MINUTE``."""
    return int(os.environ.get("MEMBER_WRITES_PER_MINUTE") or DEFAULT_MEMBER_WRITES_PER_WINDOW)


def limit_member_writes(program_id: str, member_id: str, now: datetime) -> None:
    """Count one member-initiated write at ``now`` (the request time); 429 ``RATE_LIMITED`` past the limit.

    Fixed windows of a minute: cheap (one conditional UpdateItem), exact under concurrency,
    and the item expires by TTL. Back-end systems are not limited here (API Gateway throttles
    the stage as a whole).
    """
    epoch = int(now.timestamp())
    window, elapsed = divmod(epoch, MEMBER_WRITE_WINDOW_SECONDS)
    limit = member_writes_per_window()
    window_end = (window + 1) * MEMBER_WRITE_WINDOW_SECONDS
    if not store.take_rate_token(program_id, member_id, window, limit, expires_at=window_end + 3600):
        raise RateLimited(limit, MEMBER_WRITE_WINDOW_SECONDS, MEMBER_WRITE_WINDOW_SECONDS - elapsed)
