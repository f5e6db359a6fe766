"""Ledger cursors and idempotency hashes (``shared.logic``), without touching the store."""

from __future__ import annotations

import base64

import pytest

from shared.errors import ValidationFailed
from shared.logic import _decode_cursor, _encode_cursor, _request_hash


@pytest.mark.parametrize("seq", [1, 2, 9, 10, 99, 12345, 10**12 - 1])
def test_cursor_round_trips(seq: int) -> None:
    # Given a ledger sequence number / When encoded then decoded / Then the same number
    cursor = _encode_cursor(seq)
    assert _decode_cursor(cursor) == seq


def test_cursor_is_url_safe_without_padding() -> None:
    for seq in range(1, 200):
        cursor = _encode_cursor(seq)
        assert "=" not in cursor
        assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "x",
        "%%%%",
        "é",
        _b64("v1:0"),
        _b64("v1:-3"),
        _b64("v2:5"),
        _b64("v1:abc"),
        _b64("v1:"),
        _b64("5"),
        _b64("v1:" + "9" * 5000),
        base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),
    ],
)
def test_garbage_cursor_is_a_validation_error_naming_cursor(cursor: str) -> None:
    # Given a cursor this API never returned / When decoded
    with pytest.raises(ValidationFailed) as invalid:
        _decode_cursor(cursor)

    # Then a 422 naming the `cursor` query parameter
    error = invalid.value
    assert (error.status, error.code) == (422, "VALIDATION_ERROR")
    assert error.details == [{"field": "cursor", "in": "query", "message": "is not a cursor this API returned"}]


def test_request_hash_ignores_key_order() -> None:
    # Given the same body with keys in another order / Then the same hash
    first = _request_hash("default", "m-1", {"event_id": "e", "type": "login", "attributes": {"a": 1, "b": 2}})
    second = _request_hash("default", "m-1", {"attributes": {"b": 2, "a": 1}, "type": "login", "event_id": "e"})
    assert first == second
    assert len(first) == 64


@pytest.mark.parametrize(
    ("program_id", "member_id", "body"),
    [
        ("other", "m-1", {"event_id": "e", "type": "login"}),
        ("default", "m-2", {"event_id": "e", "type": "login"}),
        ("default", "m-1", {"event_id": "e", "type": "login", "member_attributes": {}}),
        ("default", "m-1", {"event_id": "e", "type": "order_completed"}),
    ],
)
def test_request_hash_differs_for_a_different_program_member_or_body(
    program_id: str, member_id: str, body: dict
) -> None:
    base = _request_hash("default", "m-1", {"event_id": "e", "type": "login"})
    assert _request_hash(program_id, member_id, body) != base


def test_request_hash_does_not_confuse_ids_across_the_separator() -> None:
    # "a" + "b:c" must not hash like "a:b" + "c"
    assert _request_hash("a", "b:c", {}) != _request_hash("a:b", "c", {})
