"""Exact JSON: numbers with a fraction or exponent are read as ``Decimal`` and written back as
the same digits, so a value is never rounded through a binary float."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

_encode_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


# What orjson would read otherwise than the standard library with Decimal fractions: a number with
# a fraction or an exponent (a float there), an integer beyond 64 bits (a float there too), NaN or
# Infinity (refused there). Found anywhere, inside strings too: such bodies take the exact reader.
_INEXACT = re.compile(rb"[0-9][.eE]|[0-9]{19}|NaN|Infinity")


def loads(text: str | bytes) -> Any:
    """JSON with fractions as ``Decimal``. A body without fractions, exponents or very long
    integers is read by orjson (about five times faster): the same values. What orjson refuses
    (byte order marks, lone surrogates) goes to the standard library, which decides."""
    if isinstance(text, bytes) and _INEXACT.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text, parse_float=Decimal)


def _number(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number")
    text = str(value)
    # str() may give "1E+3" or "1E-7": valid JSON either way, and exact.
    return text


def dumps(value: Any) -> str:
    """JSON text of ``value``; ``Decimal`` is written with its exact digits."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_encode_string(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    raise TypeError(f"{type(value).__name__} is not written as exact JSON")


def dumps_parsed(value: Any) -> str:
    """:func:`dumps` of a value read by :func:`loads` (which never gives a float): orjson writes it
    when it holds no ``Decimal`` (most event properties; non-ASCII text as UTF-8, not escaped)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # a Decimal somewhere, or an integer beyond 64 bits: the exact writer
        return dumps(value)
