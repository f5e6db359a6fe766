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
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from shared import clock
from shared.errors import Busy
from shared.models import (
    CONFIG,
    LEDGER_PREFIX,
    PROFILE,
    REQUEST,
    LedgerItem,
    LotAttribute,
    MemberItem,
    ProgramItem,
    RequestItem,
    config_version_sk,
    ledger_sk,
    member_pk,
    program_pk,
    request_pk,
)
from shared.program import ProgramConfig
from shared.rules import MemberState, MonthActivity, PointsLot

DUE_SHARDS = 16
"""Due-date index partitions are split this many ways so a year-end with a million due members
does not land on one hot GSI partition; jobs query every shard of a day."""

THROTTLING_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
SERVER_ERROR_CODES = frozenset({"InternalServerError", "ServiceUnavailable"})
"""DynamoDB's own 5xx: botocore retries them; one that outlasts its retries is a 503, not our 500."""


class StaleWrite(Exception):
    """The member changed between our read and our write; read again and recompute."""


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


# --- conversions ----------------------------------------------------------------------


def _utc_or_none(text: str | None) -> datetime | None:
    return clock.parse_utc(text) if text else None


def _text_or_none(moment: datetime | None) -> str | None:
    return clock.format_utc(moment) if moment else None


def _lot_from_item(lot: LotAttribute) -> PointsLot:
    return PointsLot(_utc_or_none(lot.expires_at), int(lot.points))


def _lot_to_item(lot: PointsLot) -> LotAttribute:
    return LotAttribute(expires_at=_text_or_none(lot.expires_at), points=lot.points)


def _raw_map(attribute: Any) -> dict[str, Any]:
    return attribute.as_dict() if hasattr(attribute, "as_dict") else dict(attribute or {})


def member_from_item(item: MemberItem, program_id: str) -> MemberState:
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
        tier=item.tier,
        tier_since=_utc_or_none(item.tier_since),
        tier_valid_until=_utc_or_none(item.tier_valid_until),
        login_days={day: int(count) for day, count in _raw_map(item.login_days).items()},
        months=months,
        attributes={k: str(v) for k, v in _raw_map(item.attributes).items()},
        ledger_seq=int(item.ledger_seq),
        created_at=_utc_or_none(item.created_at),
        updated_at=_utc_or_none(item.updated_at),
    )


def _due_keys(program_id: str, member_id: str, due: datetime | None) -> tuple[str | None, str | None]:
    if due is None:
        return None, None
    shard = zlib.crc32(member_id.encode()) % DUE_SHARDS
    return f"{program_id}#{due.date().isoformat()}#{shard:02d}", f"{clock.format_utc(due)}#{member_id}"


def member_to_item(state: MemberState, config_version: int, at: datetime) -> MemberItem:
    next_expiry = min((lot.expires_at for lot in state.lots if lot.expires_at and lot.points), default=None)
    tier_due_pk, tier_due_sk = _due_keys(state.program_id, state.member_id, state.tier_valid_until)
    expiry_due_pk, expiry_due_sk = _due_keys(state.program_id, state.member_id, next_expiry)
    return MemberItem(
        member_pk(state.program_id, state.member_id),
        PROFILE,
        member_id=state.member_id,
        version=state.version,
        growth=state.growth,
        points_balance=state.points_balance,
        lots=[_lot_to_item(lot) for lot in state.lots],
        tier=state.tier,
        tier_since=_text_or_none(state.tier_since),
        tier_valid_until=_text_or_none(state.tier_valid_until),
        login_days=dict(state.login_days),
        months={m: {"orders": a.orders, "bonus": a.bonus_awarded} for m, a in state.months.items()},
        attributes=dict(state.attributes),
        ledger_seq=state.ledger_seq,
        config_version=config_version,
        created_at=clock.format_utc(state.created_at or at),
        updated_at=clock.format_utc(at),
        tier_due_pk=tier_due_pk,
        tier_due_sk=tier_due_sk,
        expiry_due_pk=expiry_due_pk,
        expiry_due_sk=expiry_due_sk,
    )


def _entry_from_item(item: LedgerItem) -> LedgerEntry:
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
    )


def _entry_to_item(program_id: str, member_id: str, entry: LedgerEntry) -> LedgerItem:
    return LedgerItem(
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


def _program_from_item(program_id: str, item: ProgramItem) -> ProgramVersion:
    return ProgramVersion(
        program_id=program_id,
        version=int(item.version),
        config=_parsed_config(program_id, int(item.version), item.document),
        updated_at=clock.parse_utc(item.updated_at),
    )


def _stored_from_item(item: RequestItem) -> StoredResponse:
    return StoredResponse(int(item.status), json.loads(item.response), item.request_hash, item.attempt_id)


# --- reads ----------------------------------------------------------------------------


def _client() -> Any:
    # PynamoDB's TableConnection wraps one botocore client; every model shares the table, so
    # reuse it for the calls PynamoDB has no multi-model form of (BatchGetItem across models).
    return MemberItem._get_connection().connection.client


def load_write_context(program_id: str, member_id: str, kind: str, key: str) -> WriteContext:
    """Program config, member snapshot and the client key's record: one strongly consistent BatchGetItem."""
    keys = {
        (program_pk(program_id), CONFIG): "program",
        (member_pk(program_id, member_id), PROFILE): "member",
        (request_pk(program_id, kind, key), REQUEST): "request",
    }
    found = _batch_get(list(keys))
    program_raw = found.get((program_pk(program_id), CONFIG))
    member_raw = found.get((member_pk(program_id, member_id), PROFILE))
    request_raw = found.get((request_pk(program_id, kind, key), REQUEST))
    return WriteContext(
        program=_program_from_item(program_id, ProgramItem.from_raw_data(program_raw)) if program_raw else None,
        member=(
            member_from_item(MemberItem.from_raw_data(member_raw), program_id)
            if member_raw
            else MemberState(program_id, member_id)
        ),
        previous=_stored_from_item(RequestItem.from_raw_data(request_raw)) if request_raw else None,
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
        _program_from_item(program_id, ProgramItem.from_raw_data(program_raw)) if program_raw else None,
        member_from_item(MemberItem.from_raw_data(member_raw), program_id) if member_raw else None,
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
) -> None:
    """Put the request record, the ledger entry and the member snapshot in one transaction.

    ``state.version`` must be ``expected_version + 1``. Raises :class:`AlreadyApplied` when the
    key was used before, :class:`StaleWrite` when the member changed since it was read.
    """
    program_id, member_id = state.program_id, state.member_id
    record = RequestItem(
        request_pk(program_id, kind, entry.key),
        REQUEST,
        member_id=member_id,
        request_hash=request_hash,
        status=response.status,
        response=json.dumps(response.body, separators=(",", ":")),
        created_at=clock.format_utc(entry.recorded_at),
        attempt_id=response.attempt_id,
    )
    ledger = _entry_to_item(program_id, member_id, entry)
    member = member_to_item(state, config_version, entry.recorded_at)
    member_condition = (
        MemberItem.pk.does_not_exist() if expected_version == 0 else MemberItem.version == expected_version
    )
    try:
        with TransactWrite(connection=MemberItem._get_connection().connection) as transaction:
            transaction.save(record, condition=RequestItem.pk.does_not_exist(), return_values="ALL_OLD")
            transaction.save(ledger, condition=LedgerItem.pk.does_not_exist())
            transaction.save(member, condition=member_condition)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons
        if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
            raw = reasons[0].raw_item
            if raw:
                raise AlreadyApplied(_stored_from_item(RequestItem.from_raw_data(raw))) from exc
        if reasons and any(
            r is not None and r.code in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons
        ):
            raise StaleWrite() from exc
        raise _translate(exc) from exc


def save_program(program_id: str, config: ProgramConfig, expected_version: int, at: datetime) -> ProgramVersion:
    """Store ``config`` as version ``expected_version + 1`` and make it current, in one transaction.

    Raises :class:`StaleWrite` if another version became current since ``expected_version``.
    """
    version = expected_version + 1
    document = config.model_dump_json()
    updated_at = clock.format_utc(at)
    current = ProgramItem(program_pk(program_id), CONFIG, version=version, document=document, updated_at=updated_at)
    history = ProgramItem(
        program_pk(program_id), config_version_sk(version), version=version, document=document, updated_at=updated_at
    )
    condition = ProgramItem.pk.does_not_exist() if expected_version == 0 else ProgramItem.version == expected_version
    try:
        with TransactWrite(connection=ProgramItem._get_connection().connection) as transaction:
            transaction.save(history, condition=ProgramItem.pk.does_not_exist())
            transaction.save(current, condition=condition)
    except TransactWriteError as exc:
        reasons = exc.cancellation_reasons
        if reasons and any(
            r is not None and r.code in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons
        ):
            raise StaleWrite() from exc
        raise _translate(exc) from exc
    return ProgramVersion(program_id, version, config, at)


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
