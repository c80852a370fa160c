"""Exact JSON: numbers with a fraction or exponent are read as ``Decimal`` and written back as
the same digits, so a value is never rounded through a binary float."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson

_encode_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _exact(value: Any) -> bool:
    """Whether orjson's reading of a body holds no float: it gives one for a number with a fraction
    or an exponent, and for an integer beyond 64 bits, where the standard library gives a
    ``Decimal`` or the integer itself. (NaN and Infinity it refuses.)"""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            extend(item.values())
        elif kind is list:
            extend(item)
        elif kind is float:
            return False
    return True


def loads(text: str | bytes) -> Any:
    """JSON with fractions as ``Decimal``. orjson reads the body first (several times faster);
    if that gives a float anywhere, or orjson refuses the body (byte order marks, lone
    surrogates, NaN), the standard library reads it, and decides."""
    if isinstance(text, bytes):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
        else:
            if _exact(value):
                return value
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
