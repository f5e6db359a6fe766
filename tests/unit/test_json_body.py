"""The request body parser (``shared.http.parse_json_body``): RFC 8259 JSON within limits, else a
``json.JSONDecodeError`` (the resolver's 422 naming ``body``), never another exception."""

from __future__ import annotations

import json
import sys

import pytest

from shared.http import MAX_INT_DIGITS, MAX_JSON_DEPTH, parse_json_body


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        "1",
        '"text"',
        "null",
        "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH,
        '{"a":' * (MAX_JSON_DEPTH - 1) + "[]" + "}" * (MAX_JSON_DEPTH - 1),
        "9" * MAX_INT_DIGITS,
        "-" + "9" * MAX_INT_DIGITS,
        '{"s": "NaN Infinity [[[[ ' + "9" * (MAX_INT_DIGITS + 10) + '"}',  # inside a string: text
        "1e999",  # a number JSON allows; the models refuse what they cannot use
    ],
)
def test_json_within_the_limits_parses_as_json_loads_does(text: str) -> None:
    assert parse_json_body(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "message", "pos"),
    [
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nested deeper", MAX_JSON_DEPTH),
        ("[" * 3000 + "]" * 3000, "nested deeper", MAX_JSON_DEPTH),
        ('{"a":' * 5000 + "1" + "}" * 5000, "nested deeper", 5 * MAX_JSON_DEPTH),
        ("[" * 60000, "nested deeper", MAX_JSON_DEPTH),
        ('{"k": "[[[", "n": ' + "9" * (MAX_INT_DIGITS + 1) + "}", "more than 4300 digits", 18),
        ("[-" + "1" * (MAX_INT_DIGITS + 1) + "]", "more than 4300 digits", 2),
        ('{"p": NaN}', "NaN is not a JSON value", 6),
        ("[1, Infinity]", "Infinity is not a JSON value", 4),
        ("[-Infinity]", "-Infinity is not a JSON value", 2),
        ('{"a": ', "Expecting value", 6),  # plain syntax errors: as json.loads reports them
    ],
)
def test_everything_else_is_a_json_decode_error(text: str, message: str, pos: int) -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        parse_json_body(text)
    assert message in caught.value.msg
    assert caught.value.pos == pos


def test_an_interpreter_limit_below_ours_is_still_a_decode_error() -> None:
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        with pytest.raises(json.JSONDecodeError, match="number literal too long"):
            parse_json_body("9" * 700)
    finally:
        sys.set_int_max_str_digits(previous)
