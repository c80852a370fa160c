"""Exact JSON reading: the orjson path reads every body it takes as the standard library does with
``Decimal`` fractions, and leaves the others to it."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billow.core import jsontext

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=12)
           | st.decimals(allow_nan=False, allow_infinity=False, places=4))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)


def typed(value: Any) -> Any:
    """``value`` with each number's type beside it (1 and 1.0 and Decimal(1) compare equal)."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_body_reads_as_the_standard_library_reads_it_with_decimals(value: Any) -> None:
    body = jsontext.dumps(value).encode()
    assert typed(jsontext.loads(body)) == typed(json.loads(body, parse_float=Decimal))


@pytest.mark.parametrize("body", [b'{"n": 12345678901234567890123}', b'{"v": 1.10}', b'{"v": 1e3}',
                                  b'{"v": NaN}', b'\xef\xbb\xbf{"a": 1}', b'["\\ud800"]', b'{"a": 1, "a": 2}',
                                  b'[[1, {"a": [2, {"b": 2.50}]}]]', b'[1, [18446744073709551616]]', b'2.0',
                                  b'{"v": -9223372036854775809}', b'{"v": "1.5", "w": 1e400}'])
def test_bodies_orjson_would_read_otherwise_read_exactly(body: bytes) -> None:
    assert typed(jsontext.loads(body)) == typed(json.loads(body, parse_float=Decimal))


def test_invalid_json_is_refused_either_way() -> None:
    for body in (b'{"a": }', b'{"a": 1.}'):
        with pytest.raises(ValueError):
            jsontext.loads(body)
