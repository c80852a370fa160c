"""Lago's event wire format, parsed by hand on the hot path (no per-event model building).

Bodies are read with :mod:`billow.core.jsontext`, so numbers with a fraction arrive as ``Decimal``
and property values are kept exactly as sent. ``null`` means "not given" everywhere (the official
client sends every optional key).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from billow.core import jsontext
from billow.core.wire import iso_utc

MAX_BATCH = 100
MAX_KEY_LENGTH = 255
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_MIN_SECONDS = Decimal(-62135596800)  # 0001-01-01
_MAX_SECONDS = Decimal(253402300799)  # 9999-12-31 23:59:59

Errors = dict[str, list[str]]


@dataclass
class EventIn:
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    timestamp_given: bool
    properties: dict[str, Any]
    precise_total_amount_cents: Decimal | None
    key: tuple[str, str] = field(init=False, repr=False, compare=False)  # (transaction, subscription)

    def __post_init__(self) -> None:
        self.key = (self.transaction_id, self.external_subscription_id)

    def same_content(self, other: Any) -> bool:
        """Whether a stored event is this one sent again (a timestamp left to the server is not
        compared: it differs on every retry)."""
        return (
            self.code == other.code
            and self.properties == (other.properties or {})
            and self.precise_total_amount_cents == other.precise_total_amount_cents
            and (not self.timestamp_given or self.timestamp == other.timestamp)
        )


def _key(raw: dict[str, Any], name: str, errors: Errors, *, required: bool = True) -> str:
    value = raw.get(name)
    if type(value) is str and 0 < len(value) <= MAX_KEY_LENGTH:  # the usual case, in one test
        return value
    if value is None or value == "":
        if required:
            errors[name] = ["value_is_mandatory"]
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors[name] = ["value_is_invalid"]
        return ""
    text = str(value)
    if len(text) > MAX_KEY_LENGTH:
        errors[name] = ["value_is_too_long"]
    return text


def parse_timestamp(value: Any, now: datetime) -> datetime | None:
    """Epoch seconds (integer, decimal, or their text) -> UTC instant to the microsecond."""
    if value is None:
        return now
    if type(value) is int and -62135596800 <= value <= 253402300799:  # whole seconds (the range below)
        return EPOCH + timedelta(seconds=value)
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not _NUMBER.fullmatch(value.strip()):
            return None
        value = value.strip()
    try:
        seconds = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not seconds.is_finite() or not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        return None
    micros = int((seconds * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP))
    return EPOCH + timedelta(microseconds=micros)


def _amount(value: Any, errors: Errors) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        errors["precise_total_amount_cents"] = ["value_is_invalid"]
        return None
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        errors["precise_total_amount_cents"] = ["value_is_invalid"]
        return None
    if not amount.is_finite():
        errors["precise_total_amount_cents"] = ["value_is_invalid"]
        return None
    return amount


def parse_event(raw: Any, now: datetime, *, require_transaction_id: bool = True) -> EventIn | Errors:
    """One event object -> :class:`EventIn`, or its field errors."""
    if not isinstance(raw, dict):
        return {"event": ["value_is_invalid"]}
    errors: Errors = {}
    transaction_id = _key(raw, "transaction_id", errors, required=require_transaction_id)
    external_subscription_id = _key(raw, "external_subscription_id", errors)
    code = _key(raw, "code", errors)
    timestamp = parse_timestamp(raw.get("timestamp"), now)
    if timestamp is None:
        errors["timestamp"] = ["invalid_format"]
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        errors["properties"] = ["value_is_invalid"]
    amount = _amount(raw.get("precise_total_amount_cents"), errors)
    if errors:
        return errors
    assert timestamp is not None
    return EventIn(transaction_id, external_subscription_id, code, timestamp, raw.get("timestamp") is not None,
                   properties, amount)


def iso_millis(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds truncated)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def event_out(row: Any, *, lago_subscription_id: Any = None, lago_customer_id: Any = None) -> dict[str, Any]:
    amount = row.precise_total_amount_cents
    return {
        "lago_id": str(row.lago_id),
        "transaction_id": row.transaction_id,
        "lago_customer_id": str(lago_customer_id) if lago_customer_id else None,
        "code": row.code,
        "timestamp": iso_millis(row.timestamp),
        "precise_total_amount_cents": None if amount is None else str(amount),
        "properties": row.properties or {},
        "lago_subscription_id": str(lago_subscription_id) if lago_subscription_id else None,
        "external_subscription_id": row.external_subscription_id,
        "created_at": iso_utc(row.created_at),
    }


_quote = jsontext.dumps
_quote_text = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]  # jsontext.dumps of a str


def events_json(rows: list[Any]) -> list[str]:
    """``jsontext.dumps(event_out(row))`` of events just ingested (no customer or subscription ids
    yet), written directly: a batch answer holds 100 of them, mostly with one ``created_at``."""
    created: dict[datetime, str] = {}
    texts = []
    for row in rows:
        amount = row.precise_total_amount_cents
        created_at = created.get(row.created_at) or created.setdefault(row.created_at, iso_utc(row.created_at))
        texts.append(
            f'{{"lago_id":"{row.lago_id}","transaction_id":{_quote_text(row.transaction_id)},"lago_customer_id":null,'
            f'"code":{_quote_text(row.code)},"timestamp":"{iso_millis(row.timestamp)}",'
            f'"precise_total_amount_cents":{"null" if amount is None else _quote(str(amount))},'
            f'"properties":{jsontext.dumps_parsed(row.properties or {})},"lago_subscription_id":null,'
            f'"external_subscription_id":{_quote_text(row.external_subscription_id)},"created_at":"{created_at}"}}')
    return texts
