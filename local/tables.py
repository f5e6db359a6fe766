"""Create the CDK app's tables in DynamoDB Local, from the synthesized template's definitions."""

from __future__ import annotations

from typing import Any


def create_tables(client: Any, tables: list[dict[str, Any]], names: dict[str, str]) -> None:
    """Create each table (CloudFormation shapes: KeySchema, AttributeDefinitions, GSIs) if absent.

    ``names`` maps a table's logical id to the name it gets locally.
    """
    existing = set(client.list_tables()["TableNames"])
    for table in tables:
        name = names[table["logical_id"]]
        if name in existing:
            continue
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": table["key_schema"],
            "AttributeDefinitions": table["attribute_definitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        indexes = [
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in table.get("global_secondary_indexes") or []
        ]
        if indexes:
            request["GlobalSecondaryIndexes"] = indexes
        client.create_table(**request)
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
        if table.get("time_to_live_attribute"):
            # DynamoDB Local records the setting but never deletes expired items.
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table["time_to_live_attribute"]},
            )
