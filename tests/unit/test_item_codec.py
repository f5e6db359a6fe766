"""The store's items (``shared.item_codec``) are exactly what PynamoDB's models write and read.

The store builds and reads its items with codecs instead of PynamoDB models (a warm request's
biggest cost). These tests put a checking codec in the store's place: every item it builds is
compared with ``Model(hash, range, **the same values).serialize()``, every item it decodes
with ``Model.from_raw_data(item)``, attribute by attribute, and each item reads back to the
domain object it came from. No DynamoDB: serialization only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import AttributeNullError

from shared import store
from shared.item_codec import ItemCodec
from shared.models import LedgerItem, MemberItem, OrderItem, OutboxItem, ProgramItem, RequestItem
from shared.points import OrderRecord
from shared.rules import MemberState, MonthActivity, PointsLot
from shared.store import LedgerEntry, OutboxEvent

BASE = datetime(2026, 11, 22, 3, 4, 5, tzinfo=UTC)


def plain(value: Any) -> Any:
    """A model's or a decoded namespace's attribute value as plain data (absent fields dropped)."""
    if isinstance(value, MapAttribute):
        return {k: plain(v) for k, v in value.attribute_values.items() if v is not None}
    if isinstance(value, SimpleNamespace):
        return {k: plain(v) for k, v in vars(value).items() if v is not None}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class Checked(ItemCodec):
    """Builds and reads each item both ways and insists they match."""

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self.model = model
        self.built = 0
        self.decoded = 0

    def item(self, hash_key: str, range_key: str, **values: Any) -> dict[str, dict[str, Any]]:
        item = super().item(hash_key, range_key, **values)
        assert item == self.model(hash_key, range_key, **values).serialize()
        self.built += 1
        return item

    def decode(self, item: dict[str, dict[str, Any]]) -> SimpleNamespace:
        decoded = super().decode(item)
        model = self.model.from_raw_data(item)
        for name in self.model.get_attributes():
            assert plain(getattr(decoded, name)) == plain(getattr(model, name)), name
        self.decoded += 1
        return decoded


@pytest.fixture(scope="module")
def checked() -> Iterator[dict[str, Checked]]:
    # Module scope: Hypothesis runs each test body many times under one fixture.
    codecs = {
        "_MEMBER_ITEM": Checked(MemberItem),
        "_LEDGER_ITEM": Checked(LedgerItem),
        "_ORDER_ITEM": Checked(OrderItem),
        "_OUTBOX_ITEM": Checked(OutboxItem),
        "_REQUEST_ITEM": Checked(RequestItem),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, codec in codecs.items():
            patch.setattr(store, name, codec)
        yield codecs


moments = st.builds(
    lambda seconds, micro: BASE + timedelta(seconds=seconds, microseconds=micro),
    st.integers(-(10**8), 10**8),
    st.sampled_from([0, 0, 1, 500_000, 999_999]),
)
lots = st.builds(
    PointsLot,
    st.none() | moments,
    st.integers(1, 10**9),
    available_at=st.none() | moments,
    remind_at=st.lists(moments, max_size=3).map(tuple),
)
keys = st.text(st.characters(codec="utf-8", exclude_characters="#"), min_size=1, max_size=12)
states = st.builds(
    MemberState,
    program_id=st.just("p1"),
    member_id=keys,
    version=st.integers(1, 10**6),
    growth=st.integers(0, 10**9),
    points_balance=st.integers(-(10**6), 10**9),
    lots=st.lists(lots, max_size=4).map(tuple),
    points_debt=st.integers(0, 10**6),
    tier=st.sampled_from(["bronze", "silver", "gold"]),
    tier_since=st.none() | moments,
    tier_valid_until=st.none() | moments,
    tier_period_start=st.none() | moments,
    tier_period_active=st.booleans(),
    last_qualifying_at=st.none() | moments,
    login_days=st.dictionaries(st.dates().map(str), st.integers(1, 5), max_size=3),
    months=st.dictionaries(
        st.dates().map(lambda d: d.isoformat()[:7]), st.builds(MonthActivity, st.integers(0, 9), st.booleans())
    ),
    attributes=st.dictionaries(keys, st.text(max_size=8), max_size=3),
    forgiven=st.dictionaries(st.integers(1, 10**6), st.integers(1, 10**6), max_size=3),
    ledger_seq=st.integers(1, 10**6),
    created_at=st.none() | moments,
)
awards = st.fixed_dictionaries(
    {"rule": keys, "points": st.integers(-(10**6), 10**6), "growth": st.integers(0, 10**6), "reason": st.text()}
)
entries = st.builds(
    LedgerEntry,
    seq=st.integers(1, 10**6),
    kind=st.sampled_from(["earn", "redeem", "expire", "tier_evaluation"]),
    key_name=st.sampled_from(["event_id", "redemption_id", "job"]),
    key=keys,
    event_type=st.none() | st.sampled_from(["order_completed", "login"]),
    occurred_at=moments,
    recorded_at=moments,
    points=st.integers(-(10**6), 10**6),
    growth=st.integers(-(10**6), 10**6),
    balance_after=st.integers(-(10**6), 10**9),
    growth_after=st.integers(0, 10**9),
    tier_after=st.sampled_from(["bronze", "gold"]),
    lots=st.lists(lots, max_size=3).map(tuple),
    awards=st.lists(awards, max_size=3).map(tuple),
    config_version=st.integers(1, 99),
    description=st.none() | st.text(max_size=20),
    redemption_id=st.none() | keys,
)
amounts = st.decimals(min_value=0, max_value=10**6, places=2).map(Decimal)
orders = st.builds(
    OrderRecord,
    order_id=keys,
    event_id=keys,
    amount=amounts,
    points=st.integers(0, 10**6),
    growth=st.integers(0, 10**6),
    lot_expires_at=st.none() | moments,
    lot_available_at=st.none() | moments,
    member_id=st.just("m1"),  # the member the record is written for
    occurred_at=st.none() | moments,
    points_rate=st.none() | amounts,
    growth_rate=st.none() | amounts,
    refunded_amount=amounts,
    refunded_points=st.integers(0, 10**6),
    refunded_growth=st.integers(0, 10**6),
    refund_ids=st.lists(keys, max_size=3).map(tuple),
    version=st.integers(1, 50),
)


@settings(max_examples=150, deadline=None)
@given(state=states, config_version=st.integers(1, 99), at=moments)
def test_member_snapshot_item_is_pynamodbs_and_reads_back(
    checked: dict[str, Checked], state: MemberState, config_version: int, at: datetime
) -> None:
    built = checked["_MEMBER_ITEM"].built
    item = store.member_to_item(state, config_version, at)
    assert checked["_MEMBER_ITEM"].built == built + 1
    expected = replace(state, created_at=state.created_at or at, updated_at=at)
    for read in (MemberItem.from_raw_data(item), store._MEMBER_ITEM.decode(item)):
        back = store.member_from_item(read, state.program_id)
        assert back == expected
        assert [lot.remind_at for lot in back.lots] == [lot.remind_at for lot in state.lots]  # not in __eq__
    assert item["config_version"] == {"N": str(config_version)}
    # Sparse due-date index keys: absent, not NULL, when nothing is due.
    assert ("tier_due_pk" in item) == (state.tier_valid_until is not None)


@settings(max_examples=150, deadline=None)
@given(entry=entries)
def test_ledger_entry_item_is_pynamodbs_and_reads_back(checked: dict[str, Checked], entry: LedgerEntry) -> None:
    built = checked["_LEDGER_ITEM"].built
    item = store._entry_to_item("p1", "m1", entry)
    assert checked["_LEDGER_ITEM"].built == built + 1
    assert store._entry_from_item(LedgerItem.from_raw_data(item)) == entry
    assert store._entry_from_item(store._LEDGER_ITEM.decode(item)) == entry


@settings(max_examples=100, deadline=None)
@given(order=orders)
def test_order_item_is_pynamodbs_and_reads_back(checked: dict[str, Checked], order: OrderRecord) -> None:
    built = checked["_ORDER_ITEM"].built
    item = store._order_to_item("p1", "m1", order)
    assert checked["_ORDER_ITEM"].built == built + 1
    assert store._order_from_item(store._ORDER_ITEM.decode(item)) == order


def test_outbox_and_request_items_are_pynamodbs(checked: dict[str, Checked]) -> None:
    state = MemberState("p1", "m1", version=3, tier="gold")
    events = [OutboxEvent("e1", "tier.changed", {"to": "gold", "n": 1}), OutboxEvent("e2", "x", {})]
    built = checked["_OUTBOX_ITEM"].built
    items = store._outbox_items("tier", state, events, BASE)
    assert [json.loads(item["detail"]["S"]) for item in items] == [{"to": "gold", "n": 1}, {}]
    assert checked["_OUTBOX_ITEM"].built == built + 2
    record = store._REQUEST_ITEM.item(
        "PROGRAM#p1#REQUEST#earn#k", "REQUEST", member_id="m1", request_hash="h", status=201, response="{}",
        created_at="2026-11-22T00:00:00Z", attempt_id="a",
    )  # fmt: skip
    assert record["status"] == {"N": "201"}
    assert store._stored_from_item(store._REQUEST_ITEM.decode(record)) == store.StoredResponse(201, {}, "h", "a")
    program = store._PROGRAM_ITEM.decode(
        {"pk": {"S": "PROGRAM#p"}, "sk": {"S": "CONFIG"}, "version": {"N": "3"}, "document": {"S": "{}"}}
    )
    assert (program.pk, program.version, program.document, program.updated_at) == ("PROGRAM#p", 3, "{}", None)


def test_decoding_follows_pynamodb_on_odd_items() -> None:
    """NULL values, missing defaults, NULL list elements, negative and fractional numbers."""
    item = {
        "pk": {"S": "p"},
        "sk": {"S": "PROFILE"},
        "member_id": {"S": "m"},
        "version": {"N": "-3"},
        "growth": {"N": "1.5"},
        "points_debt": {"NULL": True},
        "lots": {"L": [{"NULL": True}, {"M": {"points": {"N": "4"}, "remind_at": {"L": [{"S": "x"}]}}}]},
        "login_days": {"M": {"2026-01-01": {"N": "2"}, "nested": {"M": {"a": {"BOOL": True}}}}},
        "tier_period_active": {"BOOL": False},
        "not_in_the_model": {"S": "ignored"},
    }
    decoded = Checked(MemberItem).decode(item)  # compares with MemberItem.from_raw_data
    assert decoded.version == -3 and decoded.growth == 1.5 and decoded.points_debt is None
    assert decoded.months == {} and decoded.tier is None
    assert decoded.lots[0] is None and decoded.lots[1].points == 4 and decoded.lots[1].expires_at is None
    assert not hasattr(decoded, "not_in_the_model")


def test_missing_required_attribute_is_refused_as_pynamodb_refuses_it() -> None:
    codec = ItemCodec(OrderItem)
    values: dict[str, Any] = {
        "event_id": "e",
        "amount": "1.00",
        "points": 1,
        "growth": 1,
        "refunded_amount": "0",
        "refunded_points": 0,
        "refunded_growth": 0,
        "version": 1,
    }
    assert codec.item("pk", "sk", **values) == OrderItem("pk", "sk", **values).serialize()
    for missing in ({k: v for k, v in values.items() if k != "event_id"}, {**values, "event_id": None}):
        with pytest.raises(ValueError, match="'event_id'"):
            codec.item("pk", "sk", **missing)
        with pytest.raises(AttributeNullError):
            OrderItem("pk", "sk", **missing).serialize()


def test_defaults_and_nulls_follow_the_model() -> None:
    values = {
        "member_id": "m",
        "version": 1,
        "growth": 0,
        "points_balance": 0,
        "tier": "bronze",
        "ledger_seq": 1,
        "config_version": 1,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "points_debt": None,
    }
    item = ItemCodec(MemberItem).item("pk", "PROFILE", **values)
    assert item == MemberItem("pk", "PROFILE", **values).serialize()
    assert item["lots"] == {"L": []} and item["months"] == {"M": {}}  # defaults written
    assert "points_debt" not in item  # None left out


def test_conditions_are_pynamodbs() -> None:
    for condition, expected in (
        (MemberItem.pk.does_not_exist(), store._ABSENT),
        (MemberItem.version == 7, store._version_is(7)),
        (ProgramItem.version == 12, store._version_is(12)),
    ):
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        expression = condition.serialize(names, values)
        serialized = {"ConditionExpression": expression, "ExpressionAttributeNames": {v: k for k, v in names.items()}}
        if values:
            serialized["ExpressionAttributeValues"] = values
        assert serialized == expected
