"""The one ledger table: keys, due-date indexes, billing, and what each stage keeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


def _keys(partition: str, sort: str) -> list[dict[str, str]]:
    return [{"AttributeName": partition, "KeyType": "HASH"}, {"AttributeName": sort, "KeyType": "RANGE"}]


def test_one_table_with_string_keys_on_demand(dev: Synth) -> None:
    (table,) = dev.of_type("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["KeySchema"] == _keys("pk", "sk")
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in props
    assert {a["AttributeType"] for a in props["AttributeDefinitions"]} == {"S"}


def test_rate_limit_items_expire_by_ttl(dev: Synth) -> None:
    from shared.store import TTL_ATTRIBUTE

    (table,) = dev.of_type("AWS::DynamoDB::Table").values()
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_due_date_indexes_are_keys_only(dev: Synth) -> None:
    (table,) = dev.of_type("AWS::DynamoDB::Table").values()
    indexes = {i["IndexName"]: i for i in table["Properties"]["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"tier_due", "expiry_due"}
    for name, index in indexes.items():
        assert index["KeySchema"] == _keys(f"{name}_pk", f"{name}_sk")
        assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_table_construct_id_is_ledger_table(dev: Synth) -> None:
    (logical_id,) = dev.of_type("AWS::DynamoDB::Table")
    assert logical_id.startswith("LedgerTable")


def test_prod_keeps_its_data(prod: Synth) -> None:
    prod.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "DeletionProtectionEnabled": True,
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        },
    )


def test_dev_is_disposable(dev: Synth) -> None:
    dev.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "DeletionProtectionEnabled": False,
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": False},
            },
        },
    )


def test_staging_has_point_in_time_recovery(synth: Callable[[str], Synth]) -> None:
    synth("staging").template.has_resource_properties(
        "AWS::DynamoDB::Table", {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
    )
