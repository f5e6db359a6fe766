"""Shared test settings (no test may reach a real AWS account) and the DynamoDB Local fixtures.

The fixtures below are shared by ``tests/integration`` and ``tests/proofs``: defining them once,
here, means one DynamoDB Local and one engine per test process, whichever of those folders a
pytest-xdist worker draws tests from. (The engine's connection is process-wide: two ``api``
fixtures in one process would point the models at two databases.) Unit and infra tests never
request them, so they start nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import Api

# Dummy credentials and region: botocore must never look for real ones.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "loyalty")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """DynamoDB Local, in memory, on a free port, for the whole test session."""
    from local import dynamodb

    port = dynamodb.free_port()
    process = dynamodb.start(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        dynamodb.stop(process)


@pytest.fixture(scope="session")
def manifest() -> dict[str, Any]:
    from infra.local_manifest import synth_manifest

    return synth_manifest("dev")


@pytest.fixture(scope="session")
def api(endpoint: str, manifest: dict[str, Any]) -> Api:
    """The engine wired to DynamoDB Local as ``make run`` wires it, the default program loaded."""
    from local.auth import AuthOff
    from local.engine import local_table_names, prepare
    from local.gateway import compile_routes
    from tests.integration.conftest import Api

    handlers = prepare(manifest, endpoint)
    table = next(iter(local_table_names(manifest).values()))
    return Api(compile_routes(manifest), handlers, manifest, endpoint, table, AuthOff(manifest))


@pytest.fixture
def member_id() -> str:
    return f"m-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def dynamo(api: Api) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=api.endpoint)
