"""Proof fixtures: budgets, a table of the test's own; botocore fault injection from
``tests/integration/dynamo_hooks.py``.

The proofs share DynamoDB Local and the engine with the integration tests (``tests/conftest.py``).
Their size is bounded for CI (``make test`` on 2 cores); ``PROOFS_SCALE=10 make proofs`` runs
ten times as many examples and hammers ten times as long.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.integration.conftest import Api
from tests.integration.dynamo_hooks import Hook, before_send, error_response, operation_of

__all__ = ["Hook", "before_send", "error_response", "operation_of"]

pytestmark = pytest.mark.integration

SCALE = max(1, int(os.environ.get("PROOFS_SCALE", "1")))
"""Multiplies every proof's example count and duration (1 in CI)."""
SHRINK = os.environ.get("PROOFS_SHRINK", "1") != "0"
"""``PROOFS_SHRINK=0`` reports the first failing case as found: shrinking a stateful case that
talks to DynamoDB can take Hypothesis's full five minutes (useful when checking that a
deliberately broken engine is caught)."""


def proof_settings(max_examples: int, **overrides: Any) -> settings:
    """Hypothesis settings for a proof that talks to DynamoDB Local: no deadline (a 2-core
    machine shared with a JVM is noisy), ``max_examples`` x ``PROOFS_SCALE``.

    Derandomized by default, so CI sees the same cases every run (a proof that passed does not
    fail on the next commit for a reason unrelated to it); ``PROOFS_RANDOM=1`` explores new ones.
    """
    overrides.setdefault("derandomize", os.environ.get("PROOFS_RANDOM") != "1")
    if not SHRINK:
        overrides.setdefault("phases", [Phase.explicit, Phase.reuse, Phase.generate])
    return settings(
        max_examples=max_examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        **overrides,
    )


@dataclass(frozen=True)
class Fresh:
    api: Api
    """The engine, pointed at a table of this test's own."""
    program: str
    """A program loaded from ``config/programs/default.json`` in that table."""


@pytest.fixture
def fresh_table(api: Api, manifest: dict[str, Any]) -> Iterator[Fresh]:
    """The engine pointed at a new, empty table holding one program, for one test.

    Proofs that compare the whole table before and after a request need a table only they
    write to: the shared one holds every other test's items and takes long to scan. The
    program gets an id of its own (configs are cached per program and version in the process,
    so a test that PUTs new versions must not reuse an id another table has).
    """
    import boto3

    from local.engine import DEFAULT_PROGRAM_FILE, load_program
    from local.tables import create_tables
    from shared import models

    client = boto3.client("dynamodb", endpoint_url=api.endpoint)
    name = f"proofs-{uuid.uuid4().hex[:10]}"
    create_tables(client, manifest["tables"], {table["logical_id"]: name for table in manifest["tables"]})
    previous = models.MemberItem.Meta.table_name
    models.configure(name, api.endpoint)
    try:
        program = f"fresh-{uuid.uuid4().hex[:10]}"
        load_program(program, DEFAULT_PROGRAM_FILE)
        yield Fresh(replace(api, table_name=name), program)
    finally:
        models.configure(previous, api.endpoint)
        client.delete_table(TableName=name)
