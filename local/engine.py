"""Wire the functions to a DynamoDB endpoint the way the CDK app wires them in AWS.

The manifest (``infra.local_manifest.synth_manifest``) is read from the synthesized template:
the tables, each function's handler and environment, and the routes. Nothing here repeats them.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.dynamodb import ROOT, use_local_credentials

DEFAULT_PROGRAM_FILE = ROOT / "config" / "programs" / "default.json"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def local_table_names(manifest: dict[str, Any]) -> dict[str, str]:
    """The local name of each table: the stack name and the table's logical id."""
    return {t["logical_id"]: f"{manifest['stack']}-{t['logical_id']}" for t in manifest["tables"]}


def function_environment(manifest: dict[str, Any], function_id: str) -> dict[str, str]:
    """A function's environment from the template, table references resolved to local names."""
    names = local_table_names(manifest)
    env: dict[str, str] = {}
    for key, value in manifest["functions"][function_id]["environment"].items():
        if isinstance(value, dict) and "table" in value:
            env[key] = names[value["table"]]
        elif isinstance(value, dict) and "bus" in value:
            env[key] = manifest["buses"][value["bus"]]
        else:
            env[key] = str(value)
    return env


LOCAL_EVENTS_FILE = ROOT / ".local" / "events.jsonl"


def prepare(
    manifest: dict[str, Any], endpoint: str, program_files: list[Path] | None = None, events_echo: bool = False
) -> dict[str, Handler]:
    """Create the tables at ``endpoint``, load the programs, and import every function's handler.

    All functions share one process locally, so their environments are merged; the CDK app
    gives them the same table and settings (a test asserts it), so nothing is lost.
    """
    use_local_credentials()
    import boto3  # the local runner only: functions use PynamoDB's botocore client

    from local.tables import create_tables

    client = boto3.client("dynamodb", endpoint_url=endpoint)
    create_tables(client, manifest["tables"], local_table_names(manifest))
    for function_id in manifest["functions"]:
        os.environ.update(function_environment(manifest, function_id))
    os.environ["DYNAMODB_ENDPOINT"] = endpoint
    # Events the jobs publish go to a JSON-lines file (the bus, locally); tests point it elsewhere.
    os.environ.setdefault("LOCAL_EVENTS_FILE", str(LOCAL_EVENTS_FILE))
    if events_echo:
        os.environ["LOCAL_EVENTS_ECHO"] = "1"
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # EMF lines would drown the local log

    from shared import models

    models.configure(os.environ["TABLE_NAME"], endpoint)
    for path in program_files if program_files is not None else [DEFAULT_PROGRAM_FILE]:
        load_program(path.stem, path)
    return {function_id: SerializedHandler(spec["handler"]) for function_id, spec in manifest["functions"].items()}


def load_program(program_id: str, path: Path) -> int:
    """Store the config file as the program's current version (unchanged file: nothing written)."""
    from shared.logic import replace_program_config
    from shared.program import ProgramConfig

    config = ProgramConfig.model_validate(json.loads(path.read_text()))
    _status, body = replace_program_config(program_id, config, datetime.now(tz=UTC))
    return int(body["version"])


def import_handler(handler: str) -> Handler:
    """``functions.earn.handler.handler`` -> the callable, as the Lambda runtime resolves it."""
    module_name, _, attribute = handler.rpartition(".")
    handler_function: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler_function


class SerializedHandler:
    """One function's handler, invoked one request at a time across the whole process.

    Powertools' resolver keeps the current event in class attributes shared by every resolver
    in the process, so two handlers must never run at once in one process. Lambda never does
    that (a container serves one request at a time); locally the gateway serializes requests.
    Races between writers are tested at the logic layer, whose data access is thread-safe.
    """

    _process_lock = threading.Lock()

    def __init__(self, handler: str) -> None:
        self.handler = handler
        self._function = import_handler(handler)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with SerializedHandler._process_lock:
            return self._function(event, context)


class LambdaContext:
    """The parts of the Lambda context object Powertools reads."""

    def __init__(self, function_name: str, memory_mb: int = 512, timeout_s: int = 10) -> None:
        import uuid

        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline_ms = (datetime.now(tz=UTC).timestamp() + timeout_s) * 1000

    def get_remaining_time_in_millis(self) -> int:
        return int(self._deadline_ms - datetime.now(tz=UTC).timestamp() * 1000)
