"""Rails-style query parameters as Lago clients send them: `name[]=a&name[]=b` and `name[key]=value`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.datastructures import QueryParams


def list_param(params: QueryParams, name: str) -> list[str]:
    """Values of `name[]` (a plain repeated `name` is accepted too)."""
    return params.getlist(f"{name}[]") + params.getlist(name)


def hash_param(params: QueryParams, name: str) -> dict[str, str]:
    """The `name[key]=value` pairs as a dict."""
    pattern = re.compile(rf"^{re.escape(name)}\[([^\]]+)\]$")
    pairs = {}
    for key, value in params.multi_items():
        match = pattern.match(key)
        if match:
            pairs[match.group(1)] = value
    return pairs


def datetime_param(name: str, value: str) -> datetime:
    """An ISO 8601 query value as an aware UTC datetime (a date means its 00:00 UTC); 422 otherwise."""
    from billow.core.errors import ValidationFailed

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed.field(name, "invalid_date") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
