"""Aggregation of usage events into billable units, pure and in memory (lago-semantics.md §1).

This is the reference the database aggregation is checked against: the same events, window and
carried state must give the same :class:`Aggregation` whichever way they are computed.

* The window ``[window_from, window_to]`` is inclusive at both ends. Events are taken in time
  order: ``timestamp`` then ingestion ``order``.
* ``sum_agg``, ``max_agg``, ``latest_agg`` and ``weighted_sum_agg`` need ``properties[field_name]``
  present and numeric-looking (optional ``-``, ASCII digits, optional ``.digits``); any other event
  is ignored entirely, also for ``events_count``. ``unique_count_agg`` ignores events without the
  field (a missing value cannot be counted). ``count_agg`` ignores properties.
* Recurring metrics (sum, unique count, weighted sum) drop the lower bound: events before
  ``window_from`` and the ``carried`` state of the previous period both feed the starting state.
  So one may pass all history, or the previous period's :attr:`Aggregation.carry` plus this
  period's events, and get the same units. ``events_count`` and ``events`` only cover the window.
* Rounding (§1.6) applies to the units after aggregation, never to ``carry``.

The result keeps the precise units (``Decimal``); fee amounts are rounded later by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

SECONDS_PER_DAY = 86400
FIVE_DECIMALS = Decimal("0.00001")
OPERATION_TYPE = "operation_type"
_NUMERIC = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class AggregationType(StrEnum):
    COUNT = "count_agg"
    SUM = "sum_agg"
    MAX = "max_agg"
    LATEST = "latest_agg"
    UNIQUE_COUNT = "unique_count_agg"
    WEIGHTED_SUM = "weighted_sum_agg"


RECURRING_TYPES = frozenset({AggregationType.SUM, AggregationType.UNIQUE_COUNT, AggregationType.WEIGHTED_SUM})


class RoundingFunction(StrEnum):
    ROUND = "round"
    CEIL = "ceil"
    FLOOR = "floor"


_ROUNDING_MODES = {
    RoundingFunction.ROUND: ROUND_HALF_UP,
    RoundingFunction.CEIL: ROUND_CEILING,
    RoundingFunction.FLOOR: ROUND_FLOOR,
}


def apply_rounding(units: Decimal, function: RoundingFunction | str | None, precision: int = 0) -> Decimal:
    """Round ``units`` to ``precision`` decimals (negative: tens, hundreds ...) with ``function``.

    ``round`` is half-up (away from zero), never banker's rounding. ``None`` returns ``units``.
    """
    if function is None:
        return units
    rounded = units.quantize(Decimal(1).scaleb(-precision), rounding=_ROUNDING_MODES[RoundingFunction(function)])
    # 1E+2 -> 100: same value, plain exponent for display.
    return rounded.quantize(Decimal(1)) if precision < 0 else rounded


def event_text(value: Any) -> str | None:
    """A property value as the text Lago compares (JSON ``->>``): ``None`` when absent/null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def numeric_value(value: Any) -> Decimal | None:
    """The property as a Decimal if it looks numeric (``-?digits(.digits)?``), else ``None``."""
    if isinstance(value, bool):
        return None
    text = event_text(value)
    if text is None or _NUMERIC.fullmatch(text) is None:
        return None
    return Decimal(text)


@dataclass(frozen=True)
class Event:
    """One usage event; ``order`` is the ingestion order, the tie-break for equal timestamps."""

    transaction_id: str
    timestamp: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)
    order: int = 0

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError("event timestamp must be timezone-aware")

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.timestamp, self.order)


def in_time_order(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=lambda event: event.sort_key)


@dataclass(frozen=True)
class AggregationSpec:
    """What a billable metric says about aggregation."""

    aggregation_type: AggregationType
    field_name: str | None = None
    recurring: bool = False
    rounding_function: RoundingFunction | None = None
    rounding_precision: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "aggregation_type", AggregationType(self.aggregation_type))
        if self.rounding_function is not None:
            object.__setattr__(self, "rounding_function", RoundingFunction(self.rounding_function))
        if self.recurring and self.aggregation_type not in RECURRING_TYPES:
            raise ValueError(f"{self.aggregation_type} cannot be recurring")
        if self.aggregation_type is not AggregationType.COUNT and not self.field_name:
            raise ValueError(f"{self.aggregation_type} needs a field_name")


@dataclass(frozen=True)
class Carried:
    """State a recurring metric carries into the next period.

    ``level``: running total (sum) or level (weighted sum). ``active``: values whose last event
    was an ``add`` (unique count).
    """

    level: Decimal = Decimal(0)
    active: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Aggregation:
    """Result of :func:`aggregate`.

    ``units``: aggregated units after the metric's rounding. ``precise_units``: before it.
    ``events``: the counted in-window events in time order; ``values``: their value each (1 for
    count; the +1/0/-1 score for unique count), for percentage/dynamic charge models.
    ``carry``: the state at ``window_to`` (for recurring metrics, else ``None``); for weighted sum
    ``carry.level`` is Lago's ``total_aggregated_units`` (level at period end).
    """

    units: Decimal
    precise_units: Decimal
    events_count: int
    events: tuple[Event, ...] = ()
    values: tuple[Decimal, ...] = ()
    carry: Carried | None = None


def _is_remove(event: Event) -> bool:
    return event.properties.get(OPERATION_TYPE) == "remove"


def _seconds(span: timedelta) -> Decimal:
    return Decimal(span.days * SECONDS_PER_DAY + span.seconds) + Decimal(span.microseconds).scaleb(-6)


def _end_instant(window_to: datetime) -> datetime:
    """The instant after the last second of the window: 23:59:59(.999) -> next 00:00:00."""
    return window_to.replace(microsecond=0) + timedelta(seconds=1)


# Public names for the incremental form (billow.pricing.partials).
end_instant = _end_instant
is_remove = _is_remove


def seconds_between(start: datetime, end: datetime) -> Decimal:
    """Exact seconds from ``start`` to ``end`` (microsecond precision)."""
    return _seconds(end - start)


def high_water_mark(aggregation_type: str, field_name: str | None, events: Iterable[Event],
                    since: datetime | None = None) -> Decimal:
    """The highest level a period's aggregation reached, event after event in time order, from 0:
    the running sum (``sum_agg``), the number of active distinct values (``unique_count_agg``:
    ``remove`` events take a value out), the number of events otherwise (lago-semantics 3.2: a
    pay-in-advance event is billed only for how much it raises this mark).

    With ``since`` (recurring metrics: ``events`` then hold the whole history) the events before it
    only set the level the period starts from, the carried units; the mark starts there."""
    level = Decimal(0)
    peak: Decimal | None = None if since is not None else level
    active: set[str] = set()
    for event in in_time_order(events):
        if peak is None and since is not None and event.timestamp >= since:
            peak = level
        value = event.properties.get(field_name or "")
        if aggregation_type == "sum_agg":
            number = numeric_value(value)
            level += number if number is not None else 0
        elif aggregation_type == "unique_count_agg":
            text = event_text(value)
            if text is not None:
                (active.discard if _is_remove(event) else active.add)(text)
            level = Decimal(len(active))
        else:
            level += 1
        if peak is not None:
            peak = max(peak, level)
    return level if peak is None else peak


def aggregate(
    spec: AggregationSpec,
    events: Iterable[Event],
    window_from: datetime,
    window_to: datetime,
    *,
    carried: Carried | None = None,
    charges_duration_days: int | None = None,
    through: Event | None = None,
) -> Aggregation:
    """Aggregate ``events`` over the inclusive window per ``spec`` (lago-semantics.md §1.1-1.3, 1.6).

    ``carried`` (recurring metrics only) is the previous period's :attr:`Aggregation.carry`.
    ``charges_duration_days`` (weighted sum only) is the day count of the *full* period.
    ``through`` (pay-in-advance, §1.1) caps the window at that event: only events at or before
    its (timestamp, ingestion order) count.
    """
    if carried is not None and not spec.recurring:
        raise ValueError("only recurring metrics carry state")
    if window_to < window_from:
        raise ValueError("window_to is before window_from")
    kind = spec.aggregation_type
    before: list[tuple[Event, Decimal]] = []
    inside: list[tuple[Event, Decimal]] = []
    for event in in_time_order(events):
        if event.timestamp > window_to or (event.timestamp < window_from and not spec.recurring):
            continue
        if through is not None and event.sort_key > through.sort_key:
            continue
        if kind is AggregationType.COUNT:
            value: Decimal | None = Decimal(1)
        elif kind is AggregationType.UNIQUE_COUNT:
            value = Decimal(0) if event_text(event.properties.get(spec.field_name)) is not None else None
        else:
            value = numeric_value(event.properties.get(spec.field_name))
        if value is not None:
            (before if event.timestamp < window_from else inside).append((event, value))

    start = carried or Carried()
    carry: Carried | None = None
    if kind is AggregationType.UNIQUE_COUNT:
        precise, carry, scores = _unique_count(spec, start, before, inside)
        values = tuple(scores)
    else:
        values = tuple(value for _, value in inside)
        if kind is AggregationType.WEIGHTED_SUM:
            precise, carry = _weighted_sum(start, before, inside, window_from, window_to, charges_duration_days)
        elif kind is AggregationType.SUM:
            precise = start.level + sum((v for _, v in before), Decimal(0)) + sum(values, Decimal(0))
            carry = Carried(level=precise)
        elif kind is AggregationType.MAX:
            precise = max(values, default=Decimal(0))
        elif kind is AggregationType.LATEST:
            precise = max(values[-1], Decimal(0)) if values else Decimal(0)
        else:  # count
            precise = Decimal(len(values))
    return Aggregation(
        units=apply_rounding(precise, spec.rounding_function, spec.rounding_precision),
        precise_units=precise,
        events_count=len(inside),
        events=tuple(event for event, _ in inside),
        values=values,
        carry=carry if spec.recurring else None,
    )


def _unique_count(
    spec: AggregationSpec,
    start: Carried,
    before: list[tuple[Event, Decimal]],
    inside: list[tuple[Event, Decimal]],
) -> tuple[Decimal, Carried, list[Decimal]]:
    # A value is active when its last event is an add; a missing previous event counts as remove.
    active = set(start.active)
    scores: list[Decimal] = []
    for index, (event, _) in enumerate([*before, *inside]):
        key = event_text(event.properties[spec.field_name])
        assert key is not None
        score = 0
        if _is_remove(event):
            if key in active:
                active.discard(key)
                score = -1
        elif key not in active:
            active.add(key)
            score = 1
        if index >= len(before):
            scores.append(Decimal(score))
    # Lago's ceil(5) is a no-op on this whole count.
    return Decimal(len(active)), Carried(active=frozenset(active)), scores


def _weighted_sum(
    start: Carried,
    before: list[tuple[Event, Decimal]],
    inside: list[tuple[Event, Decimal]],
    window_from: datetime,
    window_to: datetime,
    charges_duration_days: int | None,
) -> tuple[Decimal, Carried]:
    if charges_duration_days is None or charges_duration_days <= 0:
        raise ValueError("weighted_sum_agg needs a positive charges_duration_days")
    level = start.level + sum((v for _, v in before), Decimal(0))
    cursor = window_from
    level_seconds = Decimal(0)
    for event, value in inside:
        level_seconds += level * _seconds(event.timestamp - cursor)
        cursor = event.timestamp
        level += value
    level_seconds += level * _seconds(_end_instant(window_to) - cursor)
    units = level_seconds / Decimal(charges_duration_days * SECONDS_PER_DAY)
    return units.quantize(FIVE_DECIMALS, rounding=ROUND_CEILING), Carried(level=level)
