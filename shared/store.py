"""Data access: the only code that talks to DynamoDB.

Writes follow one pattern. ``load_write_context`` reads, in one BatchGetItem, the program's
current config, the member snapshot and the request record of the client's key. The logic
computes the new state; ``commit_write`` then puts, in one TransactWriteItems, the request
record (if absent), the ledger entry (if absent) and the member snapshot (if its version is
still the one read). A lost race raises :class:`StaleWrite` and the caller starts over; a key
used before raises :class:`AlreadyApplied` with the first response.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, PynamoDBException, TransactWriteError

from shared import clock
from shared.errors import Busy
from shared.item_codec import ItemCodec
from shared.models import (
    CONFIG,
    LEDGER_PREFIX,
    ORDER,
    PROFILE,
    REQUEST,
    JobStateItem,
    LedgerItem,
    MemberItem,
    OrderItem,
    OutboxItem,
    ProgramItem,
    RedemptionLeftItem,
    RequestItem,
    config_version_sk,
    job_sk,
    ledger_sk,
    member_pk,
    order_pk,
    outbox_pk,
    program_pk,
    redemption_sk,
    request_pk,
)
from shared.points import OrderRecord
from shared.program import ProgramConfig
from shared.rules import MemberState, MonthActivity, PointsLot, next_expiry_action

DUE_SHARDS = 16
"""Due-date index partitions are split this many ways so a year-end with a million due members
does not land on one hot GSI partition; jobs query every shard of a day."""

THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
SERVER_ERROR_CODES = frozenset({"InternalServerError", "ServiceUnavailable"})
"""DynamoDB's own 5xx: botocore retries them; one that outlasts its retries is a 503, not our 500."""


class StaleWrite(Exception):
    """The member changed between our read and our write; read again and recompute.

    ``member``: the member as the failed transaction found it, when DynamoDB returned it and
    nothing else failed but the member's own version: the retry can plan from it instead of
    reading again.
    """

    def __init__(self, member: MemberState | None = None) -> None:
        super().__init__()
        self.member = member


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    request_hash: str
    attempt_id: str | None = None
    """Unique per invocation: botocore may resend a transaction whose first send committed but
    whose answer was lost; the record it then meets is our own, not an earlier request's."""


class AlreadyApplied(Exception):
    """The client key was used before; carries the first response."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("request already applied")
        self.stored = stored


@dataclass(frozen=True)
class ProgramVersion:
    program_id: str
    version: int
    config: ProgramConfig
    updated_at: datetime


@dataclass(frozen=True)
class WriteContext:
    program: ProgramVersion | None
    member: MemberState
    previous: StoredResponse | None
    order: OrderRecord | None = None
    """The completed order a write names, whichever member reported it (earn: to refuse a
    repeat; refund: what to reverse, when it is this member's)."""
    redemption: StoredResponse | None = None
    """The first response to this member's redemption (a reversal gives back the lots it drew)."""
    redemption_left: RedemptionLeft | None = None
    """What earlier reversals left unreversed of that redemption (``None``: none was reversed)."""


@dataclass(frozen=True)
class RedemptionLeft:
    """What is still unreversed of one redemption; ``version`` 0: not yet written."""

    redemption_id: str
    lots: tuple[PointsLot, ...]
    version: int = 0
    keys: tuple[str, ...] = ()
    """The reversals applied, by client key (see ``OrderRecord.refund_ids``)."""


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger entry, as the logic builds it and the API shows it."""

    seq: int
    kind: str
    key_name: str
    key: str
    event_type: str | None
    occurred_at: datetime
    recorded_at: datetime
    points: int
    growth: int
    balance_after: int
    growth_after: int
    tier_after: str
    lots: tuple[PointsLot, ...]
    awards: tuple[dict[str, Any], ...]
    config_version: int
    description: str | None = None
    redemption_id: str | None = None
    """The redemption a reversal gives back, when the entry's key is the reversal's own."""


# --- conversions ----------------------------------------------------------------------
# The ``*_from_item`` functions take a model instance or an ``ItemCodec.decode`` namespace:
# the same attribute names either way.


def _utc_or_none(text: str | None) -> datetime | None:
    return clock.parse_utc(text) if text else None


def _text_or_none(moment: datetime | None) -> str | None:
    return clock.format_utc(moment) if moment else None


def _lot_from_item(lot: Any) -> PointsLot:
    return PointsLot(
        _utc_or_none(lot.expires_at),
        int(lot.points),
        available_at=_utc_or_none(lot.available_at),
        remind_at=tuple(clock.parse_utc(str(text)) for text in lot.remind_at or ()),
    )


def _lot_to_item(lot: PointsLot) -> dict[str, Any]:
    return {
        "expires_at": _text_or_none(lot.expires_at),
        "points": lot.points,
        "available_at": _text_or_none(lot.available_at),
        "remind_at": [clock.format_utc(moment) for moment in lot.remind_at] or None,
    }


def _raw_map(attribute: Any) -> dict[str, Any]:
    return attribute.as_dict() if hasattr(attribute, "as_dict") else dict(attribute or {})


def member_from_item(item: Any, program_id: str) -> MemberState:
    months = {
        month: MonthActivity(int(value.get("orders", 0)), bool(value.get("bonus", False)))
        for month, value in _raw_map(item.months).items()
    }
    return MemberState(
        program_id=program_id,
        member_id=item.member_id,
        version=int(item.version),
        growth=int(item.growth),
        points_balance=int(item.points_balance),
        lots=tuple(_lot_from_item(lot) for lot in item.lots),
        points_debt=int(item.points_debt or 0),
        tier=item.tier,
        tier_since=_utc_or_none(item.tier_since),
        tier_valid_until=_utc_or_none(item.tier_valid_until),
        tier_period_start=_utc_or_none(item.tier_period_start),
        tier_period_active=bool(item.tier_period_active),
        last_qualifying_at=_utc_or_none(item.last_qualifying_at),
        login_days={day: int(count) for day, count in _raw_map(item.login_days).items()},
        months=months,
        attributes={k: str(v) for k, v in _raw_map(item.attributes).items()},
        forgiven={int(seq): int(points) for seq, points in _raw_map(item.forgiven).items()},
        ledger_seq=int(item.ledger_seq),
        created_at=_utc_or_none(item.created_at),
        updated_at=_utc_or_none(item.updated_at),
    )


def shard_of(member_id: str) -> int:
    return zlib.crc32(member_id.encode()) % DUE_SHARDS


def due_month(moment: datetime) -> str:
    """``YYYY-MM`` of ``moment`` in UTC: the due-date index is partitioned by month and shard."""
    return clock.to_utc(moment).strftime("%Y-%m")


def due_partition(program_id: str, month: str, shard: int) -> str:
    """The due-date index partition of one UTC month and shard. Monthly, not daily, so a job
    that must look back (first run, missed runs) queries 16 partitions a month, not 480;
    range keys sort by due time, so a job still reads only what is due by its now."""
    return f"{program_id}#{month}#{shard:02d}"


def _due_keys(
    program_id: str, member_id: str, due: datetime | None, written_at: datetime
) -> tuple[str | None, str | None]:
    """The due-date index keys: partition by the month of the due time or of the write, whichever
    is later, so a due time already in the past (imported history, a backdated event) lands in a
    month the jobs still walk; the range key keeps the real due time."""
    if due is None:
        return None, None
    month = due_month(max(due, written_at))
    return due_partition(program_id, month, shard_of(member_id)), f"{clock.format_utc(due)}#{member_id}"


Item = dict[str, dict[str, Any]]
"""A DynamoDB item as botocore sends it: ``{attribute: {type: value}}``."""

# The write path's items, built from plain values (``shared.item_codec``): what PynamoDB's
# models would serialize, without building them.
_MEMBER_ITEM = ItemCodec(MemberItem)
_LEDGER_ITEM = ItemCodec(LedgerItem)
_ORDER_ITEM = ItemCodec(OrderItem)
_OUTBOX_ITEM = ItemCodec(OutboxItem)
_REQUEST_ITEM = ItemCodec(RequestItem)
_PROGRAM_ITEM = ItemCodec(ProgramItem)
_REDEMPTION_LEFT_ITEM = ItemCodec(RedemptionLeftItem)


def member_to_item(state: MemberState, config_version: int, at: datetime) -> Item:
    next_expiry = next_expiry_action(state.lots)
    tier_due_pk, tier_due_sk = _due_keys(state.program_id, state.member_id, state.tier_valid_until, at)
    expiry_due_pk, expiry_due_sk = _due_keys(state.program_id, state.member_id, next_expiry, at)
    return _MEMBER_ITEM.item(
        member_pk(state.program_id, state.member_id),
        PROFILE,
        member_id=state.member_id,
        version=state.version,
        growth=state.growth,
        points_balance=state.points_balance,
        lots=[_lot_to_item(lot) for lot in state.lots],
        points_debt=state.points_debt or None,
        tier=state.tier,
        tier_since=_text_or_none(state.tier_since),
        tier_valid_until=_text_or_none(state.tier_valid_until),
        tier_period_start=_text_or_none(state.tier_period_start),
        tier_period_active=state.tier_period_active,
        last_qualifying_at=_text_or_none(state.last_qualifying_at),
        login_days=dict(state.login_days),
        months={m: {"orders": a.orders, "bonus": a.bonus_awarded} for m, a in state.months.items()},
        attributes=dict(state.attributes),
        forgiven={str(seq): points for seq, points in state.forgiven.items()} or None,
        ledger_seq=state.ledger_seq,
        config_version=config_version,
        created_at=clock.format_utc(state.created_at or at),
        updated_at=clock.format_utc(at),
        tier_due_pk=tier_due_pk,
        tier_due_sk=tier_due_sk,
        expiry_due_pk=expiry_due_pk,
        expiry_due_sk=expiry_due_sk,
    )


def _entry_from_item(item: Any) -> LedgerEntry:
    return LedgerEntry(
        seq=int(item.seq),
        kind=item.kind,
        key_name=item.key_name,
        key=item.key,
        event_type=item.event_type,
        occurred_at=clock.parse_utc(item.occurred_at),
        recorded_at=clock.parse_utc(item.recorded_at),
        points=int(item.points),
        growth=int(item.growth),
        balance_after=int(item.balance_after),
        growth_after=int(item.growth_after),
        tier_after=item.tier_after,
        lots=tuple(_lot_from_item(lot) for lot in item.lots),
        awards=tuple(
            {"rule": a.rule, "points": int(a.points), "growth": int(a.growth), "reason": a.reason or ""}
            for a in item.awards
        ),
        config_version=int(item.config_version),
        description=item.description,
        redemption_id=item.redemption_id,
    )


def _entry_to_item(program_id: str, member_id: str, entry: LedgerEntry) -> Item:
    return _LEDGER_ITEM.item(
        member_pk(program_id, member_id),
        ledger_sk(entry.seq),
        seq=entry.seq,
        kind=entry.kind,
        key_name=entry.key_name,
        key=entry.key,
        event_type=entry.event_type,
        occurred_at=clock.format_utc(entry.occurred_at),
        recorded_at=clock.format_utc(entry.recorded_at),
        points=entry.points,
        growth=entry.growth,
        balance_after=entry.balance_after,
        growth_after=entry.growth_after,
        tier_after=entry.tier_after,
        lots=[_lot_to_item(lot) for lot in entry.lots],
        awards=[dict(a) for a in entry.awards],
        config_version=entry.config_version,
        description=entry.description,
        redemption_id=entry.redemption_id,
    )


_PARSED_CONFIGS: dict[tuple[str, int], ProgramConfig] = {}


def _parsed_config(program_id: str, version: int, document: str) -> ProgramConfig:
    # A version's document never changes once written, so each container validates it once,
    # not on every request that reads it.
    key = (program_id, version)
    config = _PARSED_CONFIGS.get(key)
    if config is None:
        config = ProgramConfig.model_validate_json(document)
        if len(_PARSED_CONFIGS) > 256:
            _PARSED_CONFIGS.clear()
        _PARSED_CONFIGS[key] = config
    return config


def _program_from_item(program_id: str, item: Any) -> ProgramVersion:
    return ProgramVersion(
        program_id=program_id,
        version=int(item.version),
        config=_parsed_config(program_id, int(item.version), item.document),
        updated_at=clock.parse_utc(item.updated_at),
    )


def _stored_from_item(item: Any) -> StoredResponse:
    return StoredResponse(int(item.status), json.loads(item.response), item.request_hash, item.attempt_id)


# --- reads ----------------------------------------------------------------------------


def _client() -> Any:
    # PynamoDB's TableConnection wraps one botocore client; every model shares the table, so
    # reuse it for the calls PynamoDB has no multi-model form of (BatchGetItem across models).
    return MemberItem._get_connection().connection.client


def load_write_context(
    program_id: str,
    member_id: str,
    kind: str,
    key: str,
    order_id: str | None = None,
    redemption_id: str | None = None,
) -> WriteContext:
    """Program config, member snapshot and the client key's record (and the order or redemption
    the write names): one strongly consistent BatchGetItem."""
    program_key = (program_pk(program_id), CONFIG)
    member_key = (member_pk(program_id, member_id), PROFILE)
    request_key = (request_pk(program_id, member_id, kind, key), REQUEST)
    order_key = (order_pk(program_id, order_id), ORDER) if order_id else None
    redemption_key = (
        (request_pk(program_id, member_id, "redemption", redemption_id), REQUEST) if redemption_id else None
    )
    left_key = (member_pk(program_id, member_id), redemption_sk(redemption_id)) if redemption_id else None
    keys = [program_key, member_key, request_key, *(k for k in (order_key, redemption_key, left_key) if k)]
    found = _batch_get(keys)
    program_raw = found.get(program_key)
    member_raw = found.get(member_key)
    request_raw = found.get(request_key)
    order_raw = found.get(order_key) if order_key else None
    redemption_raw = found.get(redemption_key) if redemption_key else None
    left_raw = found.get(left_key) if left_key else None
    return WriteContext(
        program=_program_from_item(program_id, _PROGRAM_ITEM.decode(program_raw)) if program_raw else None,
        member=(
            member_from_item(_MEMBER_ITEM.decode(member_raw), program_id)
            if member_raw
            else MemberState(program_id, member_id)
        ),
        previous=_stored_from_item(_REQUEST_ITEM.decode(request_raw)) if request_raw else None,
        order=_order_from_item(_ORDER_ITEM.decode(order_raw)) if order_raw else None,
        redemption=_stored_from_item(_REQUEST_ITEM.decode(redemption_raw)) if redemption_raw else None,
        redemption_left=_left_from_item(redemption_id, _REDEMPTION_LEFT_ITEM.decode(left_raw))
        if redemption_id and left_raw
        else None,
    )


def _left_from_item(redemption_id: str, item: Any) -> RedemptionLeft:
    return RedemptionLeft(
        redemption_id,
        tuple(_lot_from_item(lot) for lot in item.lots),
        int(item.version),
        tuple(str(key) for key in item.keys or ()),
    )


def _left_to_item(program_id: str, member_id: str, left: RedemptionLeft) -> Item:
    return _REDEMPTION_LEFT_ITEM.item(
        member_pk(program_id, member_id),
        redemption_sk(left.redemption_id),
        lots=[_lot_to_item(lot) for lot in left.lots],
        keys=list(left.keys),
        version=left.version,
    )


def _decimal_or_none(text: str | None) -> Decimal | None:
    return Decimal(text) if text else None


def _order_from_item(item: Any) -> OrderRecord:
    return OrderRecord(
        order_id=item.pk.rsplit("#", 1)[1],
        event_id=item.event_id,
        amount=Decimal(item.amount),
        points=int(item.points),
        growth=int(item.growth),
        lot_expires_at=_utc_or_none(item.lot_expires_at),
        lot_available_at=_utc_or_none(item.lot_available_at),
        member_id=item.member_id or "",
        occurred_at=_utc_or_none(item.occurred_at),
        points_rate=_decimal_or_none(item.points_rate),
        growth_rate=_decimal_or_none(item.growth_rate),
        refunded_amount=Decimal(item.refunded_amount),
        refunded_points=int(item.refunded_points),
        refunded_growth=int(item.refunded_growth),
        refund_ids=tuple(str(key) for key in item.refund_ids or ()),
        version=int(item.version),
    )


def _order_to_item(program_id: str, member_id: str, order: OrderRecord) -> Item:
    return _ORDER_ITEM.item(
        order_pk(program_id, order.order_id),
        ORDER,
        member_id=member_id,
        event_id=order.event_id,
        occurred_at=_text_or_none(order.occurred_at),
        amount=str(order.amount),
        points=order.points,
        growth=order.growth,
        points_rate=None if order.points_rate is None else str(order.points_rate),
        growth_rate=None if order.growth_rate is None else str(order.growth_rate),
        lot_expires_at=_text_or_none(order.lot_expires_at),
        lot_available_at=_text_or_none(order.lot_available_at),
        refunded_amount=str(order.refunded_amount),
        refunded_points=order.refunded_points,
        refunded_growth=order.refunded_growth,
        refund_ids=list(order.refund_ids) or None,
        version=order.version,
    )


def _batch_get(keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    table = MemberItem.Meta.table_name
    request: dict[str, Any] = {
        table: {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys], "ConsistentRead": True}
    }
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for _attempt in range(5):
        try:
            response = _client().batch_get_item(RequestItems=request)
        except Exception as exc:
            raise _translate(exc) from exc
        for item in response.get("Responses", {}).get(table, []):
            found[(item["pk"]["S"], item["sk"]["S"])] = item
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return found
    raise Busy("DynamoDB left keys unprocessed; retry the request")


def load_member_view(program_id: str, member_id: str) -> tuple[ProgramVersion | None, MemberState | None]:
    """The program config and the member snapshot: one strongly consistent BatchGetItem."""
    program_key = (program_pk(program_id), CONFIG)
    member_key = (member_pk(program_id, member_id), PROFILE)
    found = _batch_get([program_key, member_key])
    program_raw, member_raw = found.get(program_key), found.get(member_key)
    return (
        _program_from_item(program_id, _PROGRAM_ITEM.decode(program_raw)) if program_raw else None,
        member_from_item(_MEMBER_ITEM.decode(member_raw), program_id) if member_raw else None,
    )


def list_ledger(program_id: str, member_id: str, before_seq: int | None, limit: int) -> list[LedgerEntry]:
    """Up to ``limit`` ledger entries, newest first, older than ``before_seq`` when given (one Query)."""
    upper = ledger_sk(before_seq - 1) if before_seq is not None else ledger_sk(10**12 - 1)
    try:
        items: Iterator[LedgerItem] = LedgerItem.query(
            member_pk(program_id, member_id),
            LedgerItem.sk.between(LEDGER_PREFIX, upper),
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
        )
        return [_entry_from_item(item) for item in items]
    except PynamoDBException as exc:
        raise _translate(exc) from exc


def program_created_at(program_id: str) -> datetime | None:
    """When the program's first version was stored (one GetItem): no member write is older."""
    try:
        item = ProgramItem.get(program_pk(program_id), config_version_sk(1), consistent_read=True)
    except ProgramItem.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise _translate(exc) from exc
    return clock.parse_utc(item.updated_at)


def get_program(program_id: str) -> ProgramVersion | None:
    """The program's current config (one GetItem), or ``None``."""
    try:
        item = ProgramItem.get(program_pk(program_id), CONFIG, consistent_read=True)
    except ProgramItem.DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise _translate(exc) from exc
    return _program_from_item(program_id, item)


# --- writes ---------------------------------------------------------------------------


def commit_write(
    state: MemberState,
    expected_version: int,
    entry: LedgerEntry,
    kind: str,
    request_hash: str,
    response: StoredResponse,
    config_version: int,
    order: OrderRecord | None = None,
    events: list[OutboxEvent] | None = None,
    request_key: str | None = None,
    config_check: bool = False,
    redemption_left: RedemptionLeft | None = None,
) -> None:
    """Put the request record, the ledger entry and the member snapshot in one transaction
    (and the order record the write creates or updates, conditioned on its version, and any
    events for the bus, into the tier job's outbox).

    ``state.version`` must be ``expected_version + 1``. Raises :class:`AlreadyApplied` when the
    key was used before, :class:`StaleWrite` when the member changed since it was read.
    ``request_key``: the key the record is read by, when it is not the entry's client key.
    ``config_check``: the program's config must still be ``config_version`` (the write was
    planned from a config this container had, not one read just now).
    """
    program_id, member_id = state.program_id, state.member_id
    record = _REQUEST_ITEM.item(
        request_pk(program_id, member_id, kind, request_key or entry.key),
        REQUEST,
        member_id=member_id,
        request_hash=request_hash,
        status=response.status,
        response=json.dumps(response.body, separators=(",", ":")),
        created_at=clock.format_utc(entry.recorded_at),
        attempt_id=response.attempt_id,
    )
    puts = [
        _put(record, _ABSENT, return_old=True),
        _put(_entry_to_item(program_id, member_id, entry), _ABSENT),
        _put(
            member_to_item(state, config_version, entry.recorded_at),
            _ABSENT if expected_version == 0 else _version_is(expected_version),
            return_old=True,  # a lost race returns the member as it is now: the retry needs no read
        ),
    ]
    if order is not None:
        order_item = _order_to_item(program_id, member_id, order)
        puts.append(_put(order_item, _ABSENT if order.version == 1 else _version_is(order.version - 1)))
    if redemption_left is not None:
        left_item = _left_to_item(program_id, member_id, redemption_left)
        expected = redemption_left.version - 1
        puts.append(_put(left_item, _ABSENT if expected == 0 else _version_is(expected)))
    puts.extend(_put(item, _ABSENT) for item in _outbox_items("tier", state, events or [], entry.recorded_at))
    checks = [_check(program_pk(program_id), CONFIG, _version_is(config_version))] if config_check else []
    try:
        _transact(puts, checks)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons or []
        record_at = len(checks)  # condition checks go first, then the puts
        record_reason = reasons[record_at] if len(reasons) > record_at else None
        if record_reason is not None and record_reason.code == "ConditionalCheckFailed" and record_reason.raw_item:
            raise AlreadyApplied(_stored_from_item(_REQUEST_ITEM.decode(record_reason.raw_item))) from exc
        if _lost_race(exc):
            raise StaleWrite(_member_now(reasons, len(checks), record_at + 2, program_id)) from exc
        raise _translate(exc) from exc


def _member_now(reasons: list[Any], checks: int, member_at: int, program_id: str) -> MemberState | None:
    """The member a lost race returned, if the member's version is all that failed: not when a
    condition check (the config) failed too, nor when DynamoDB returned no item (a conflict)."""
    member = reasons[member_at] if len(reasons) > member_at else None
    if member is None or member.code != "ConditionalCheckFailed" or not member.raw_item:
        return None
    if any(reason is not None for reason in reasons[:checks]):  # PynamoDB: None where nothing failed
        return None
    return member_from_item(_MEMBER_ITEM.decode(member.raw_item), program_id)


def save_program(program_id: str, config: ProgramConfig, expected_version: int, at: datetime) -> ProgramVersion:
    """Store ``config`` as version ``expected_version + 1`` and make it current, in one transaction.

    Raises :class:`StaleWrite` if another version became current since ``expected_version``.
    The same transaction puts the program's entry in the program registry (its time zone, for
    the scheduled jobs: :func:`list_programs`), so a program exists only with its jobs.
    """
    version = expected_version + 1
    document = config.model_dump_json()
    updated_at = clock.format_utc(at)
    fields = {"version": version, "document": document, "updated_at": updated_at}
    current = _PROGRAM_ITEM.item(program_pk(program_id), CONFIG, **fields)
    history = _PROGRAM_ITEM.item(program_pk(program_id), config_version_sk(version), **fields)
    try:
        _transact(
            [
                _put(history, _ABSENT),
                _put(current, _ABSENT if expected_version == 0 else _version_is(expected_version)),
                _put(_registry_item(program_id, config.time_zone, at), {}),
            ],
            [],
        )
    except TransactWriteError as exc:
        if _lost_race(exc):
            raise StaleWrite() from exc
        raise _translate(exc) from exc
    return ProgramVersion(program_id, version, config, at)


# Conditions as PynamoDB serializes them (``Model.pk.does_not_exist()``, ``Model.version == n``);
# ``tests/unit/test_item_codec.py`` compares them.
_ABSENT: dict[str, Any] = {"ConditionExpression": "attribute_not_exists (#0)", "ExpressionAttributeNames": {"#0": "pk"}}


def _version_is(version: int) -> dict[str, Any]:
    return {
        "ConditionExpression": "#0 = :0",
        "ExpressionAttributeNames": {"#0": "version"},
        "ExpressionAttributeValues": {":0": {"N": str(version)}},
    }


def _put(item: Item, condition: dict[str, Any], return_old: bool = False) -> dict[str, Any]:
    put = {"TableName": MemberItem.Meta.table_name, "Item": item, **condition}
    if return_old:  # a failed condition returns the item there: a request's answer, the member now
        put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return put


def _check(pk: str, sk: str, condition: dict[str, Any]) -> dict[str, Any]:
    return {"TableName": MemberItem.Meta.table_name, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}, **condition}


def _transact(puts: list[dict[str, Any]], checks: list[dict[str, Any]]) -> None:
    """One TransactWriteItems through PynamoDB's connection (its retries, errors and
    ``TransactWriteError`` with cancellation reasons): condition checks first, then the puts."""
    connection = MemberItem._get_connection().connection
    connection.transact_write_items(
        condition_check_items=checks,
        delete_items=[],
        put_items=puts,
        update_items=[],
        # PynamoDB asks for the consumed capacity unless told otherwise; nothing here reads it.
        return_consumed_capacity="NONE",
    )


def _lost_race(exc: TransactWriteError) -> bool:
    """A condition failed or another transaction got there first: re-read and recompute."""
    reasons = exc.cancellation_reasons or []
    return any(r is not None and r.code in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons)


def _condition_failed(exc: Exception) -> bool:
    """A single-item write refused by its ConditionExpression (botocore's ``ClientError``)."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code == "ConditionalCheckFailedException"


def _translate(exc: Exception) -> Exception:
    """Throttling or a DynamoDB 5xx that outlasted botocore's retries becomes :class:`Busy` (503),
    which a client retries with the same key; the rest stays a 500."""
    code = getattr(exc, "cause_response_code", None)
    if code is None:
        response = getattr(exc, "response", None)
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    if code in THROTTLING_CODES:
        return Busy("the table is throttling requests; retry with the same key")
    if code in SERVER_ERROR_CODES:
        return Busy("DynamoDB did not answer; retry with the same key")
    return exc


# --- scheduled jobs -------------------------------------------------------------------

DUE_INDEXES = {
    "tier": ("tier_due", "tier_due_pk", "tier_due_sk"),
    "expiry": ("expiry_due", "expiry_due_pk", "expiry_due_sk"),
}


@dataclass(frozen=True)
class DuePage:
    member_ids: list[str]
    next_key: dict[str, Any] | None
    """Where the next page starts; ``None`` when the partition has no more due members."""


def due_members(
    kind: str, program_id: str, month: str, shard: int, upto: datetime, start: dict[str, Any] | None, limit: int
) -> DuePage:
    """Members of one due-date index partition due at or before ``upto``: one Query, keys only."""
    index, hash_name, range_name = DUE_INDEXES[kind]
    request: dict[str, Any] = {
        "TableName": MemberItem.Meta.table_name,
        "IndexName": index,
        "KeyConditionExpression": "#h = :h AND #r <= :r",
        "ExpressionAttributeNames": {"#h": hash_name, "#r": range_name},
        "ExpressionAttributeValues": {
            ":h": {"S": due_partition(program_id, month, shard)},
            # Range keys are "<RFC 3339 due>#<member>"; "~" sorts after every member id character.
            ":r": {"S": f"{clock.format_utc(upto)}~"},
        },
        "Limit": limit,
    }
    if start:
        request["ExclusiveStartKey"] = start
    try:
        response = _client().query(**request)
    except Exception as exc:
        raise _translate(exc) from exc
    ids = [item[range_name]["S"].split("#", 1)[1] for item in response.get("Items", [])]
    return DuePage(ids, response.get("LastEvaluatedKey"))


def load_members(program_id: str, member_ids: list[str]) -> dict[str, MemberState]:
    """Member snapshots by id (strongly consistent BatchGetItem, 100 keys a request)."""
    found: dict[str, MemberState] = {}
    for start in range(0, len(member_ids), 100):
        keys = [(member_pk(program_id, m), PROFILE) for m in member_ids[start : start + 100]]
        for raw in _batch_get(keys).values():
            state = member_from_item(_MEMBER_ITEM.decode(raw), program_id)
            found[state.member_id] = state
    return found


def load_member(program_id: str, member_id: str) -> MemberState | None:
    try:
        item = MemberItem.get(member_pk(program_id, member_id), PROFILE, consistent_read=True)
    except DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise _translate(exc) from exc
    return member_from_item(item, program_id)


@dataclass(frozen=True)
class OutboxEvent:
    event_id: str
    """Deterministic (program, member, ledger entry): consumers can drop a repeat by it."""
    detail_type: str
    detail: dict[str, Any]


def _outbox_items(job: str, state: MemberState, events: list[OutboxEvent], at: datetime) -> list[Item]:
    return [
        _OUTBOX_ITEM.item(
            outbox_pk(state.program_id, job, shard_of(state.member_id)),
            event.event_id,
            detail_type=event.detail_type,
            detail=json.dumps(event.detail, separators=(",", ":")),
            created_at=clock.format_utc(at),
        )
        for event in events
    ]


def commit_job_write(
    job: str,
    state: MemberState,
    expected_version: int,
    entry: LedgerEntry | None,
    events: list[OutboxEvent],
    config_version: int,
    at: datetime,
) -> None:
    """A job's change to one member: ledger entry, member snapshot and outbox events, one transaction.

    Conditioned on the member's version: a concurrent earn or spend makes it :class:`StaleWrite`,
    carrying the member as that writer left it, and the job plans again from it, so nothing the
    other writer did is lost.
    """
    program_id, member_id = state.program_id, state.member_id
    puts = [_put(_entry_to_item(program_id, member_id, entry), _ABSENT)] if entry is not None else []
    member_at = len(puts)
    puts.append(_put(member_to_item(state, config_version, at), _version_is(expected_version), return_old=True))
    puts.extend(_put(item, _ABSENT) for item in _outbox_items(job, state, events, at))
    try:
        _transact(puts, [])
    except TransactWriteError as exc:
        if _lost_race(exc):
            raise StaleWrite(_member_now(exc.cancellation_reasons or [], 0, member_at, program_id)) from exc
        raise _translate(exc) from exc


@dataclass(frozen=True)
class PendingEvent:
    pk: str
    event_id: str
    detail_type: str
    detail: dict[str, Any]


def pending_events(program_id: str, job: str, shard: int, limit: int) -> list[PendingEvent]:
    """Up to ``limit`` unpublished events of one job's outbox shard, in id order (one Query)."""
    try:
        query = OutboxItem.query(outbox_pk(program_id, job, shard), limit=limit, page_size=limit, consistent_read=True)
        items = list(query)
        return [PendingEvent(item.pk, item.sk, item.detail_type, json.loads(item.detail)) for item in items]
    except PynamoDBException as exc:
        raise _translate(exc) from exc


def delete_events(events: list[PendingEvent]) -> None:
    """Forget published events (BatchWriteItem, 25 a request)."""
    try:
        with OutboxItem.batch_write() as batch:
            for event in events:
                batch.delete(OutboxItem(event.pk, event.event_id))
    except PynamoDBException as exc:
        raise _translate(exc) from exc


def job_completed_through(program_id: str, job: str) -> str | None:
    """The last due month (``YYYY-MM``) the job finished for the program, if any."""
    try:
        item = JobStateItem.get(program_pk(program_id), job_sk(job), consistent_read=True)
    except DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise _translate(exc) from exc
    return str(item.completed_through)


def save_job_progress(program_id: str, job: str, completed_through: str, at: datetime) -> None:
    """Record that every due month up to ``completed_through`` is done; never moves backwards."""
    month = completed_through
    item = JobStateItem(program_pk(program_id), job_sk(job), completed_through=month, updated_at=clock.format_utc(at))
    try:
        item.save(condition=JobStateItem.pk.does_not_exist() | (JobStateItem.completed_through < month))
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return  # another run got as far or further
        raise _translate(exc) from exc


# The program registry: every program and its time zone, so the jobs' hourly dispatch finds each
# program (shipped or created at run time) in one Query, without a schedule per program.
from shared.models import ProgramRegistryItem, program_registry_pk, program_registry_sk  # noqa: E402

_REGISTRY_ITEM = ItemCodec(ProgramRegistryItem)


def _registry_item(program_id: str, time_zone: str, at: datetime) -> Item:
    return _REGISTRY_ITEM.item(
        program_registry_pk(),
        program_registry_sk(program_id),
        time_zone=time_zone,
        updated_at=clock.format_utc(at),
    )


@dataclass(frozen=True)
class RegisteredProgram:
    program_id: str
    time_zone: str


@dataclass(frozen=True)
class ProgramsPage:
    programs: list[RegisteredProgram]
    more: bool
    """More programs follow the last one: ask again with ``after`` = its id."""


def list_programs(after: str | None = None, limit: int = 100) -> ProgramsPage:
    """Up to ``limit`` registered programs in id order, after program ``after`` when given: one
    strongly consistent Query on the registry partition (the only one the jobs may query besides
    their outboxes)."""
    names = {"#pk": "pk"}
    values: dict[str, Any] = {":pk": {"S": program_registry_pk()}}
    condition = "#pk = :pk"
    if after is not None:
        names["#sk"] = "sk"
        values[":after"] = {"S": program_registry_sk(after)}
        condition += " AND #sk > :after"
    try:
        response = _client().query(
            TableName=MemberItem.Meta.table_name,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
            Limit=limit,
        )
    except Exception as exc:
        raise _translate(exc) from exc
    programs = [
        RegisteredProgram(item.sk, item.time_zone)
        for item in (_REGISTRY_ITEM.decode(raw) for raw in response.get("Items", []))
    ]
    return ProgramsPage(programs, bool(response.get("LastEvaluatedKey")))


def register_program(program_id: str, time_zone: str, at: datetime) -> bool:
    """Put the program in the registry unless it is there with this time zone (``True``: written).

    :func:`save_program` does this with every version; this is for programs stored before the
    registry existed (their config unchanged since, so no new version writes it).
    """
    try:
        _client().put_item(
            TableName=MemberItem.Meta.table_name,
            Item=_registry_item(program_id, time_zone, at),
            ConditionExpression="attribute_not_exists(#pk) OR #tz <> :tz",
            ExpressionAttributeNames={"#pk": "pk", "#tz": "time_zone"},
            ExpressionAttributeValues={":tz": {"S": time_zone}},
        )
    except Exception as exc:
        if _condition_failed(exc):
            return False
        raise _translate(exc) from exc
    return True


# --- rate limits ----------------------------------------------------------------------

RATE_PREFIX = "RATE#"
TTL_ATTRIBUTE = "ttl"
"""The table's TTL attribute (epoch seconds): DynamoDB deletes rate items some time after it."""


def take_rate_token(program_id: str, member_id: str, window: int, limit: int, expires_at: int) -> bool:
    """Count one write of the member in fixed window number ``window``; ``False`` once ``limit`` are taken.

    One conditional UpdateItem on a small item beside the member snapshot
    (``PROGRAM#p#MEMBER#m`` / ``RATE#<window>``): DynamoDB applies concurrent updates one at a
    time, so at most ``limit`` calls per window ever see ``True``. ``expires_at`` (epoch
    seconds) lets the table's TTL delete the item after its window.
    """
    try:
        _client().update_item(
            TableName=MemberItem.Meta.table_name,
            Key={"pk": {"S": member_pk(program_id, member_id)}, "sk": {"S": f"{RATE_PREFIX}{window}"}},
            UpdateExpression="ADD #count :one SET #ttl = :ttl",
            ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
            ExpressionAttributeNames={"#count": "count", "#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":ttl": {"N": str(expires_at)},
            },
        )
    except Exception as exc:
        if _condition_failed(exc):
            return False
        raise _translate(exc) from exc
    return True
