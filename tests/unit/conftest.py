"""Fixtures for the pure unit tests: the default program config and variants of it.

Nothing here touches the network, DynamoDB or the wall clock.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.program import ProgramConfig

DEFAULT_PROGRAM_FILE = Path(__file__).resolve().parents[2] / "config" / "programs" / "default.json"
_DEFAULT_RAW: dict[str, Any] = json.loads(DEFAULT_PROGRAM_FILE.read_text())


@pytest.fixture
def default_raw() -> dict[str, Any]:
    """A fresh deep copy of ``config/programs/default.json`` as a dict, free to mutate."""
    return copy.deepcopy(_DEFAULT_RAW)


@pytest.fixture
def default_config() -> ProgramConfig:
    """The default (JD-like) program, validated."""
    return ProgramConfig.model_validate(copy.deepcopy(_DEFAULT_RAW))


@pytest.fixture
def make_config() -> Callable[..., ProgramConfig]:
    """Build a validated variant of the default program.

    ``make_config(expiry={...}, time_zone="...")`` replaces top-level keys; ``edit`` (a callable
    taking the raw dict) can change anything deeper before validation.
    """

    def build(edit: Callable[[dict[str, Any]], None] | None = None, **overrides: Any) -> ProgramConfig:
        raw = copy.deepcopy(_DEFAULT_RAW)
        raw.update(overrides)
        if edit is not None:
            edit(raw)
        return ProgramConfig.model_validate(raw)

    return build
