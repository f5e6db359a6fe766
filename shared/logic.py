"""Use cases: one function per route. They know the domain and the store, nothing of HTTP.

Writes are optimistic: read (one BatchGetItem), compute with the pure rules, write (one
TransactWriteItems conditioned on the member's version). A lost race is retried with jittered
backoff, from the member the cancelled transaction returned (or from a new read when the
config changed too); a replayed client key returns the first response.
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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from shared import clock, points, store, views, write_cache
from shared.api import EventIn, OrderCompletedEvent, OrderRefundedEvent, RedemptionIn, ReversalIn, event_attributes
from shared.errors import (
    BusinessTimeNotAllowed,
    Busy,
    Forbidden,
    IdempotencyConflict,
    LoyaltyError,
    MemberNotFound,
    OrderAlreadyReported,
    OrderNotFound,
    ProgramNotFound,
    RateLimited,
    RedemptionNotFound,
    RefundExceedsOrder,
    ReversalExceedsRedemption,
    ValidationFailed,
    VersionConflict,
)
from shared.points import OrderRecord, apply_refund, unreversed
from shared.program import OrderRule, ProgramConfig
from shared.rules import (
    BusinessEvent,
    EarnOutcome,
    MemberState,
    PointsLot,
    apply_event,
    lot_expiry,
    merge_attributes,
    spend_points,
)
from shared.store import AlreadyApplied, LedgerEntry, ProgramVersion, StaleWrite, StoredResponse
from shared.tiers import TIER_CHANGED, TierEvaluation, anniversary_awards, evaluate_tier, tier_changed

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


@dataclass(frozen=True)
class Planned:
    """A write's outcome before it is committed."""

    state: MemberState
    entry: LedgerEntry
    response: dict[str, Any]
    order: OrderRecord | None = None
    """The order record the write creates (completed order) or updates (refund)."""
    redemption_left: store.RedemptionLeft | None = None
    """What a reversal leaves unreversed of its redemption."""
    events: tuple[store.OutboxEvent, ...] = ()
    """Events for the bus, written to the outbox in the same transaction."""


Plan = Callable[[store.WriteContext, ProgramVersion], Planned]


def _member_write(
    program_id: str,
    member_id: str,
    kind: str,
    key_name: str,
    key: str,
    body: dict[str, Any],
    plan: Plan,
    *,
    order_id: str | None = None,
    redemption_id: str | None = None,
    needs_read: bool = False,
) -> tuple[int, dict[str, Any]]:
    """The write protocol every member write shares: replay or read, plan, commit, retry.

    ``plan`` turns what was read into the new member state, its ledger entry and the response
    body (it may raise a domain error: nothing is written then). ``order_id``/``redemption_id``
    add the order record or the redemption the write needs to the same read.

    When this container last read or wrote the member (``write_cache``) and the write does not
    need to read anything else (``needs_read``: a refund's order, a reversal's redemption), the
    read is skipped: one request, whose transaction checks every assumption the plan made.
    """
    request_hash = _request_hash(program_id, member_id, body)
    attempt_id = uuid.uuid4().hex

    def commit(
        context: store.WriteContext, program: ProgramVersion, planned: Planned, config_check: bool
    ) -> tuple[int, dict[str, Any]]:
        response = planned.response
        stored = StoredResponse(201, response, request_hash, attempt_id)
        try:
            store.commit_write(
                planned.state,
                context.member.version,
                planned.entry,
                kind,
                request_hash,
                stored,
                program.version,
                planned.order,
                list(planned.events),
                request_key=key,  # the same key the record was looked up by
                config_check=config_check,
                redemption_left=planned.redemption_left,
            )
        except AlreadyApplied as applied:
            return _replay(applied.stored, request_hash, key_name, key, attempt_id)
        except StaleWrite as lost:
            if lost.member is not None:
                # Another writer moved the member; the transaction returned it as it is now and
                # the config passed its check: the retry plans from it, with no read.
                write_cache.put(program, lost.member)
            else:
                write_cache.forget(program_id, member_id)
            raise
        except BaseException:
            write_cache.forget(program_id, member_id)
            raise
        write_cache.put(program, planned.state)
        return 201, response

    def attempt() -> tuple[int, dict[str, Any]]:
        cached = None if needs_read else write_cache.get(program_id, member_id)
        if cached is not None:
            program, member = cached
            context = store.WriteContext(program, member, None)
            try:
                planned: Planned | None = plan(context, program)
            except LoyaltyError:
                # Refused on the cached state: read, the key may have been applied already.
                write_cache.forget(program_id, member_id)
                planned = None
            if planned is not None:
                # Planned from what this container last saw; the commit checks it all still holds.
                return commit(context, program, planned, config_check=True)
        context = store.load_write_context(program_id, member_id, kind, key, order_id, redemption_id)
        if context.previous is not None:
            return _replay(context.previous, request_hash, key_name, key, attempt_id)
        if context.program is None:
            raise ProgramNotFound(program_id)
        write_cache.put(context.program, context.member)
        return commit(context, context.program, plan(context, context.program), config_check=False)

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
    """Apply the earning rules to a reported event (or a refund); 201 first time, 200 on replay."""
    if isinstance(event, OrderRefundedEvent):
        return _refund(program_id, member_id, event, now)

    def plan(context: store.WriteContext, program: ProgramVersion) -> Planned:
        config = program.config
        _check_business_time(config, event.occurred_at, now, "occurred_at")
        if isinstance(event, OrderCompletedEvent):
            if event.attributes.currency not in (None, config.currency):
                raise ValidationFailed.field("attributes.currency", f"must be the program's currency {config.currency}")
            if context.order is not None:
                if context.order.member_id not in ("", member_id):
                    # An order id is unique in its program: another member reported it.
                    raise OrderAlreadyReported(context.order.order_id, None)
                if context.order.event_id == event.event_id:
                    # This very event, committed by a concurrent request: BatchGetItem reads each
                    # item on its own, so it can see the order record before the request record.
                    # Read again: the replay answers with the first response.
                    raise StaleWrite()
                raise OrderAlreadyReported(context.order.order_id, context.order.event_id)
        business_event = BusinessEvent(
            event.event_id, event.type, event.occurred_at, event_attributes(event), event.member_attributes
        )
        member, anniversaries, deducted, evaluation = _anniversaries_before(program, context.member, event.occurred_at)
        outcome = apply_event(config, member, business_event)
        state = _next_version(context.member, outcome.state, now)
        awards = anniversaries + tuple(
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
            growth=outcome.growth - deducted,
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
        if deducted or anniversaries:
            response["anniversary_growth_deducted"] = deducted
        order = _order_record(config, member_id, event, outcome) if isinstance(event, OrderCompletedEvent) else None
        # The tier job's next drain publishes it (the outbox is its own).
        detail = tier_changed(program.program_id, evaluation, state) if evaluation else None
        events = (store.OutboxEvent(detail["event_id"], TIER_CHANGED, detail),) if detail else ()
        return Planned(state, entry, response, order, events=events)

    body = event.model_dump(mode="json")
    order_id = event.attributes.order_id if isinstance(event, OrderCompletedEvent) else None
    return _member_write(program_id, member_id, "event", "event_id", event.event_id, body, plan, order_id=order_id)


def _anniversaries_before(
    program: ProgramVersion, member: MemberState, at: datetime
) -> tuple[MemberState, tuple[dict[str, Any], ...], int, TierEvaluation | None]:
    """Tier anniversaries due by an event's business time, applied before the event, so the
    result does not depend on whether the daily tier job ran first. Returns the member after
    them, their awards for the ledger entry, the growth deducted and the evaluation."""
    evaluation = evaluate_tier(program.config, member, at) if member.exists else None
    if evaluation is None:
        return member, (), 0, None
    return evaluation.state, anniversary_awards(evaluation), evaluation.deducted, evaluation


def _order_record(
    config: ProgramConfig, member_id: str, event: OrderCompletedEvent, outcome: EarnOutcome
) -> OrderRecord:
    """What the order itself earned (its own rule's award; a monthly bonus stays) and at which
    rates, for refunds."""
    own = next(a for a in outcome.awards if a.rule == "order_completed")
    rule = config.rule_for("order_completed")
    pending = rule.pending_days if isinstance(rule, OrderRule) else 0
    points_rate, growth_rate = outcome.order_rates or (None, None)
    return OrderRecord(
        order_id=event.attributes.order_id,
        event_id=event.event_id,
        amount=Decimal(event.attributes.settled_amount),
        points=own.points,
        growth=own.growth,
        lot_expires_at=lot_expiry(config, event.occurred_at),
        lot_available_at=event.occurred_at + timedelta(days=pending) if pending else None,
        member_id=member_id,
        occurred_at=event.occurred_at,
        points_rate=points_rate,
        growth_rate=growth_rate,
    )


def _refund(program_id: str, member_id: str, event: OrderRefundedEvent, now: datetime) -> tuple[int, dict[str, Any]]:
    """``order_refunded``: reverse the order's points and growth in proportion to the amount."""

    def plan(context: store.WriteContext, program: ProgramVersion) -> Planned:
        config = program.config
        _check_business_time(config, event.occurred_at, now, "occurred_at")
        attributes = event.attributes
        if attributes.currency not in (None, config.currency):
            raise ValidationFailed.field("attributes.currency", f"must be the program's currency {config.currency}")
        order = context.order
        if order is None or order.member_id not in ("", member_id):
            raise OrderNotFound(attributes.order_id)
        if event.event_id in order.refund_ids:
            # This very refund, committed by a concurrent request: the read saw the order after
            # it but its request record before. Read again: the replay answers.
            raise StaleWrite()
        if order.occurred_at is not None and event.occurred_at < order.occurred_at:
            raise ValidationFailed.field(
                "occurred_at", f"is before the order it refunds ({views.time_text(order.occurred_at)})"
            )
        if attributes.refund_amount is None:
            amount = order.amount - order.refunded_amount
            if amount <= 0:
                raise RefundExceedsOrder(order.order_id, order.amount, order.refunded_amount)
        else:
            amount = Decimal(attributes.refund_amount)
            if amount <= 0:
                raise ValidationFailed.field("attributes.refund_amount", "must be greater than 0")
            if amount > order.amount:
                raise ValidationFailed.field(
                    "attributes.refund_amount", f"is more than the order's amount {order.amount}"
                )
        # Member attributes reported with a refund are kept, as with any event.
        member = merge_attributes(context.member, event.member_attributes)
        outcome = apply_refund(config, member, order, amount, event.occurred_at, now)
        state = _next_version(context.member, outcome.state, now)
        reason = f"order {order.order_id}: {amount} of {order.amount} refunded"
        if outcome.debt_added:
            reason += f"; {outcome.debt_added} points already spent became a negative balance"
        if outcome.forgiven:
            reason += f"; {outcome.forgiven} points already spent were not taken back (balance stops at 0)"
        if outcome.lapsed:
            reason += f"; {outcome.lapsed} points had expired with their lot and are not taken again"
        awards = (
            {
                "rule": "order_refunded",
                "points": -outcome.points_reversed,
                "growth": -outcome.growth_reversed,
                "reason": reason,
            },
        )
        entry = LedgerEntry(
            seq=state.ledger_seq,
            kind="refund",
            key_name="event_id",
            key=event.event_id,
            event_type=event.type,
            occurred_at=event.occurred_at,
            recorded_at=now,
            points=-outcome.points_reversed,
            growth=-outcome.growth_reversed,
            balance_after=state.points_balance,
            growth_after=state.growth,
            tier_after=state.tier,
            lots=outcome.drawn,
            awards=awards,
            config_version=program.version,
        )
        change = outcome.tier_change
        response = {
            "event_id": event.event_id,
            "type": event.type,
            "occurred_at": views.time_text(event.occurred_at),
            "order_id": order.order_id,
            "refund_amount": str(amount),
            "order_refunded_amount": str(outcome.order.refunded_amount),
            "points_reversed": outcome.points_reversed,
            "growth_reversed": outcome.growth_reversed,
            "drawn": views.lots_view(outcome.drawn),
            "negative_balance_added": outcome.debt_added,
            "points_forgiven": outcome.forgiven,
            "points_lapsed": outcome.lapsed,
            "tier_change": {"from": change.old, "to": change.new, "reason": change.reason} if change else None,
            "ledger_entry_id": state.ledger_seq,
            "config_version": program.version,
            "member": views.snapshot(config, state, now),
        }
        recorded = replace(outcome.order, refund_ids=(*order.refund_ids, event.event_id))
        return Planned(state, entry, response, recorded)

    body = event.model_dump(mode="json")
    key = event.event_id
    return _member_write(
        program_id, member_id, "event", "event_id", key, body, plan, order_id=event.attributes.order_id, needs_read=True
    )


def redeem_points(
    program_id: str, member_id: str, redemption: RedemptionIn, now: datetime, *, by_member: bool = False
) -> tuple[int, dict[str, Any]]:
    """Spend points, soonest-expiring first; 409 ``INSUFFICIENT_POINTS`` changes nothing.

    ``by_member``: the member asked itself (a member token), not a back-end system. Such writes
    are rate limited per member, and refused (403) where the program does not allow them.
    """
    occurred_at = redemption.occurred_at or now
    if by_member:
        if redemption.occurred_at is not None:
            raise BusinessTimeNotAllowed("occurred_at")
        limit_member_writes(program_id, member_id, now)

    def plan(context: store.WriteContext, program: ProgramVersion) -> Planned:
        config = program.config
        if by_member and not config.member_redemptions:
            raise Forbidden("this program does not let members redeem points themselves", "member_redemptions_off")
        _check_business_time(config, occurred_at, now, "occurred_at")
        if redemption.points > config.max_points_per_redemption:
            raise ValidationFailed.field("points", f"at most {config.max_points_per_redemption} per redemption")
        if not context.member.exists:
            raise MemberNotFound(member_id)
        # A lot that has expired by the time the write is recorded is gone, whatever time it claims.
        outcome = spend_points(context.member, redemption.points, occurred_at, now)
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
        return Planned(state, entry, response)

    body = redemption.model_dump(mode="json")
    key = redemption.redemption_id
    return _member_write(program_id, member_id, "redemption", "redemption_id", key, body, plan)


def reverse_redemption(
    program_id: str, member_id: str, redemption_id: str, reversal: ReversalIn, now: datetime
) -> tuple[int, dict[str, Any]]:
    """Give a redemption's points back to the lots they came from; expired lots are not revived.

    All that is left unreversed, or ``reversal.points`` of it (the points drawn last come back
    first). The key is ``reversal.reversal_id``, or the redemption id when there is none; a
    replay gets the first answer. Points that refunds recorded after the redemption could not
    take back (they had been spent, policy ``clamp``) go to those refunds, not to the member.
    """
    occurred_at = reversal.occurred_at or now
    key_name = "reversal_id" if reversal.reversal_id else "redemption_id"
    key = reversal.reversal_id or redemption_id

    def plan(context: store.WriteContext, program: ProgramVersion) -> Planned:
        config = program.config
        _check_business_time(config, occurred_at, now, "occurred_at")
        redemption = context.redemption
        if redemption is None or redemption.status != 201:
            raise RedemptionNotFound(redemption_id)
        redeemed_at = clock.parse_utc(redemption.body["occurred_at"])
        if occurred_at < redeemed_at:
            raise ValidationFailed.field(
                "occurred_at", f"is before the redemption it reverses ({views.time_text(redeemed_at)})"
            )
        if context.redemption_left is not None and key in context.redemption_left.keys:
            raise StaleWrite()  # this very reversal, committed concurrently: read again, replay it
        left = context.redemption_left or store.RedemptionLeft(
            redemption_id,
            tuple(
                PointsLot(clock.parse_utc(lot["expires_at"]) if lot["expires_at"] else None, int(lot["points"]))
                for lot in redemption.body["drawn"]
            ),
        )
        remaining = unreversed(left.lots)
        wanted = remaining if reversal.points is None else reversal.points
        if wanted > remaining or remaining == 0:
            raise ReversalExceedsRedemption(redemption_id, wanted, remaining)
        # A lot that has expired by now is gone (the sweep may have removed it): never revived.
        outcome = points.reverse_redemption(
            config,
            context.member,
            left.lots,
            max(occurred_at, now),
            redeemed_seq=int(redemption.body["ledger_entry_id"]),
            points=wanted,
        )
        state = _next_version(context.member, outcome.state, now)
        returned = sum(lot.points for lot in outcome.returned)
        lost = sum(lot.points for lot in outcome.lost)
        to_refunds = sum(lot.points for lot in outcome.to_refunds)
        notes = [f"{lost} points not revived: their lot expired"] if lost else []
        if to_refunds:
            notes.append(f"{to_refunds} points went to refunds that could not take them back when they were spent")
        entry = LedgerEntry(
            seq=state.ledger_seq,
            kind="reversal",
            key_name=key_name,
            key=key,
            event_type=None,
            occurred_at=occurred_at,
            recorded_at=now,
            points=returned,
            growth=0,
            balance_after=state.points_balance,
            growth_after=state.growth,
            tier_after=state.tier,
            lots=outcome.returned,
            awards=(),
            config_version=program.version,
            description=reversal.reason or ("; ".join(notes) or None),
            redemption_id=redemption_id if reversal.reversal_id else None,
        )
        response = {
            "redemption_id": redemption_id,
            "reversal_id": reversal.reversal_id,
            "occurred_at": views.time_text(occurred_at),
            "points_reversed": outcome.reversed_points,
            "points_returned": returned,
            "returned": views.lots_view(outcome.returned),
            "points_not_revived": lost,
            "not_revived": views.lots_view(outcome.lost),
            "points_to_refunds": to_refunds,
            "points_left": unreversed(outcome.left),
            "ledger_entry_id": state.ledger_seq,
            "member": views.snapshot(config, state, now),
        }
        left_after = store.RedemptionLeft(redemption_id, outcome.left, left.version + 1, (*left.keys, key))
        return Planned(state, entry, response, redemption_left=left_after)

    body = {"redemption_id": redemption_id, **reversal.model_dump(mode="json")}
    return _member_write(
        program_id,
        member_id,
        "reversal",
        key_name,
        key,
        body,
        plan,
        redemption_id=redemption_id,
        needs_read=True,
    )


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
    if not entries:
        # Every member has at least its first entry: an empty first page means no such member,
        # or no such program (said first, as every route does); only then is a read spent on it.
        if store.get_program(program_id) is None:
            raise ProgramNotFound(program_id)
        if before is None:
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
