"""The one injectable clock. Production reads the system time; tests freeze it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """Current instant, timezone-aware UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def set_now(instant: datetime | None) -> None:
    global _frozen
    if instant is not None and instant.tzinfo is None:
        raise ValueError("frozen instants must be timezone-aware")
    _frozen = instant.astimezone(UTC) if instant is not None else None


@contextmanager
def frozen(instant: datetime) -> Iterator[None]:
    previous = _frozen
    set_now(instant)
    try:
        yield
    finally:
        set_now(previous)
