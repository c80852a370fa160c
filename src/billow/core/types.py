"""Portable column types: UTC datetimes, exact decimals as text, JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from billow.core import jsontext


def sqlite_datetime(value: datetime) -> str:
    """What :class:`UTCDateTime` writes on SQLite, for statements sent to the driver directly."""
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def sqlite_uuid(value: uuid.UUID) -> str:
    """What :class:`sqlalchemy.Uuid` writes on SQLite (32 hex digits)."""
    return value.hex


class JSONType(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())


class UTCDateTime(TypeDecorator[datetime]):
    """Always stored as UTC, always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal kept as its text form on every database (never a float)."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return str(Decimal(value))

    def process_result_value(self, value: str | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


class ExactJSON(TypeDecorator[Any]):
    """JSON kept as text, read and written with exact decimals (see :mod:`billow.core.jsontext`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else jsontext.dumps(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else jsontext.loads(value)
