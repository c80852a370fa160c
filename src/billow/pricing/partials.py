"""Mergeable partial aggregates: the algebra behind incremental usage (lago-semantics.md §1.2-1.3).

The database keeps one :class:`Partial` per (subscription, metric, dimension values, hour) and
updates it as events arrive. A usage read merges the partials of the hours inside its window with
partials built from the few raw events at its ragged edges, then calls :func:`finish`. This gives
exactly what :func:`billow.pricing.aggregation.aggregate` gives on the raw events (the property
tests check it), for count, sum, max, latest and weighted sum. Unique count keeps per-value state
instead (:class:`ValueState`), because distinct counts do not add up across hours.

Weighted sum works because an event of value ``v`` at ``t`` adds ``v x (T - t)`` level-seconds to a
window ending at ``T``. A partial stores ``tail = sum of v x (end - t)`` for its own ``end``, which
shifts to any later ``T`` by adding ``total x (T - end)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from enum import IntEnum

from billow.pricing.aggregation import (
    FIVE_DECIMALS,
    SECONDS_PER_DAY,
    Aggregation,
    AggregationSpec,
    AggregationType,
    Event,
    apply_rounding,
    end_instant,
    event_text,
    in_time_order,
    is_remove,
    numeric_value,
    seconds_between,
)

ZERO = Decimal(0)
LatestKey = tuple[datetime, int]


@dataclass(frozen=True)
class Partial:
    """What a set of events contributes, independent of where the window starts.

    ``events``: every event (what count_agg counts). ``counted``/``total``/``maximum``/``latest``:
    over events whose field is numeric. ``tail``: sum of ``v x seconds(end - t)``.
    """

    end: datetime
    events: int = 0
    counted: int = 0
    total: Decimal = ZERO
    maximum: Decimal | None = None
    latest_key: LatestKey | None = None
    latest_value: Decimal | None = None
    tail: Decimal = ZERO

    def tail_at(self, instant: datetime) -> Decimal:
        """The level-seconds these events add to a window ending at ``instant`` (>= ``end``)."""
        return self.tail + self.total * seconds_between(self.end, instant)


def partial_of(field_name: str | None, events: Iterable[Event], end: datetime, *, present: bool = False,
               tail: bool = True) -> Partial:
    """The partial of ``events`` (all before ``end``), reading values from ``field_name``.

    ``present`` (unique count): ``counted`` is the number of events carrying the field at all.
    ``tail=False`` leaves ``tail`` at zero (only a weighted sum reads it; it costs a time
    difference per event).
    """
    if present:
        carrying = sum(1 for event in events if event_text(event.properties.get(field_name or "")) is not None)
        return Partial(end, carrying, carrying)
    count = counted = 0
    total = level_seconds = ZERO
    maximum: Decimal | None = None
    latest: tuple[LatestKey, Decimal] | None = None
    for event in events:
        count += 1
        value = numeric_value(event.properties.get(field_name)) if field_name else None
        if value is None:
            continue
        counted += 1
        total += value
        if tail:
            level_seconds += value * seconds_between(event.timestamp, end)
        maximum = value if maximum is None else max(maximum, value)
        if latest is None or event.sort_key > latest[0]:
            latest = (event.sort_key, value)
    return Partial(end, count, counted, total, maximum, latest and latest[0], latest and latest[1], level_seconds)


def merge(partials: Iterable[Partial], end: datetime, *, tail: bool = True) -> Partial:
    """One partial equal to all of ``partials`` (each ending at or before ``end``); ``tail=False``
    for partials made without tails (the merged tail stays zero)."""
    events = counted = 0
    total = level_seconds = ZERO
    maximum: Decimal | None = None
    latest_key: LatestKey | None = None
    latest_value: Decimal | None = None
    for part in partials:
        events += part.events
        counted += part.counted
        total += part.total
        if tail:
            level_seconds += part.tail_at(end)
        if part.maximum is not None and (maximum is None or part.maximum > maximum):
            maximum = part.maximum
        if part.latest_key is not None and (latest_key is None or part.latest_key > latest_key):
            latest_key, latest_value = part.latest_key, part.latest_value
    return Partial(end, events, counted, total, maximum, latest_key, latest_value, level_seconds)


def finish(
    spec: AggregationSpec,
    inside: Partial,
    window_from: datetime,
    window_to: datetime,
    *,
    level_before: Decimal = ZERO,
    charges_duration_days: int | None = None,
) -> Aggregation:
    """Units of the window from the merged partial of its events (``inside.end`` <= the window's
    end instant) and, for recurring sum / weighted sum, the level carried into it."""
    kind = spec.aggregation_type
    if level_before and not spec.recurring:
        raise ValueError("only recurring metrics carry a level")
    events_count = inside.counted
    if kind is AggregationType.COUNT:
        precise = Decimal(inside.events)
        events_count = inside.events
    elif kind is AggregationType.SUM:
        precise = level_before + inside.total
    elif kind is AggregationType.MAX:
        precise = inside.maximum if inside.maximum is not None else ZERO
    elif kind is AggregationType.LATEST:
        precise = max(inside.latest_value, ZERO) if inside.latest_value is not None else ZERO
    elif kind is AggregationType.WEIGHTED_SUM:
        if charges_duration_days is None or charges_duration_days <= 0:
            raise ValueError("weighted_sum_agg needs a positive charges_duration_days")
        end = end_instant(window_to)
        level_seconds = level_before * seconds_between(window_from, end) + inside.tail_at(end)
        precise = (level_seconds / Decimal(charges_duration_days * SECONDS_PER_DAY)).quantize(
            FIVE_DECIMALS, rounding=ROUND_CEILING
        )
    else:
        raise ValueError(f"{kind} has no partial form; use ValueState")
    return Aggregation(
        units=apply_rounding(precise, spec.rounding_function, spec.rounding_precision),
        precise_units=precise,
        events_count=events_count,
    )


# ---- unique count -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueState:
    """The last operation on one distinct value within a stretch of time (``add`` or ``remove``)."""

    value: str
    last_key: LatestKey
    added: bool


def value_states(field_name: str, events: Iterable[Event]) -> dict[str, ValueState]:
    """Last operation per distinct value of ``field_name`` among ``events``."""
    states: dict[str, ValueState] = {}
    for event in in_time_order(events):
        value = event_text(event.properties.get(field_name))
        if value is not None:
            states[value] = ValueState(value, event.sort_key, not is_remove(event))
    return states


def latest_states(groups: Iterable[Iterable[ValueState]]) -> dict[str, ValueState]:
    """Per value, the latest of several stretches' states."""
    result: dict[str, ValueState] = {}
    for group in groups:
        for state in group:
            known = result.get(state.value)
            if known is None or state.last_key > known.last_key:
                result[state.value] = state
    return result


def unique_count(spec: AggregationSpec, states: Iterable[ValueState], events_count: int) -> Aggregation:
    """Units of a unique count from the last state of each value over the counted stretch.

    Non-recurring: states of the window's events only. Recurring: states of all events up to the
    window's end. A value is counted when its last operation is an ``add``.
    """
    if spec.aggregation_type is not AggregationType.UNIQUE_COUNT:
        raise ValueError("value states only price unique_count_agg")
    precise = Decimal(sum(1 for state in states if state.added))
    return Aggregation(
        units=apply_rounding(precise, spec.rounding_function, spec.rounding_precision),
        precise_units=precise,
        events_count=events_count,
    )


def hour_of(instant: datetime) -> datetime:
    """The start of the UTC hour containing ``instant``: the bucket it is kept in."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


HOUR = timedelta(hours=1)


# ---- grains: the same partials kept per UTC hour, day and month ------------------------------------


class Grain(IntEnum):
    """How long a stored bucket is. Every event is kept in one bucket of each grain, so a window
    reads whole months, then whole days, then whole hours (:func:`cover`): at most a few dozen
    rows per dimension set whatever the window's length."""

    HOUR = 0
    DAY = 1
    MONTH = 2

    def start(self, instant: datetime) -> datetime:
        """The start of this grain's bucket holding ``instant`` (UTC)."""
        hour = hour_of(instant)
        if self is Grain.HOUR:
            return hour
        day = hour.replace(hour=0)
        return day if self is Grain.DAY else day.replace(day=1)

    def end(self, bucket: datetime) -> datetime:
        """The end of the bucket starting at ``bucket``."""
        if self is Grain.HOUR:
            return bucket + HOUR
        if self is Grain.DAY:
            return bucket + DAY
        return next_month(bucket)


DAY = timedelta(days=1)


def next_month(instant: datetime) -> datetime:
    """The start of the UTC month after the one holding ``instant``."""
    first = Grain.MONTH.start(instant)
    return first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)


def cover(start: datetime, end: datetime) -> list[tuple[Grain, datetime, datetime]]:
    """The buckets that exactly tile the hour-aligned ``[start, end)``, as runs ``(grain, from, to)``:
    the buckets of that grain starting in ``[from, to)``. Coarsest buckets that fit are used."""
    runs: list[tuple[Grain, datetime, datetime]] = []
    cursor = start
    # Up the grains: hours to the next day, days to the next month ...
    for grain, coarser in ((Grain.HOUR, Grain.DAY), (Grain.DAY, Grain.MONTH)):
        aligned = coarser.start(cursor)
        boundary = cursor if aligned == cursor else coarser.end(aligned)
        stop = min(boundary, grain.start(end))
        if stop > cursor:
            runs.append((grain, cursor, stop))
            cursor = stop
    # ... whole months, then down again: whole days, whole hours.
    for grain in (Grain.MONTH, Grain.DAY, Grain.HOUR):
        stop = grain.start(end)
        if stop > cursor:
            runs.append((grain, cursor, stop))
            cursor = stop
    return runs

__all__ = [
    "DAY", "HOUR", "Grain", "Partial", "ValueState", "cover", "finish", "hour_of", "latest_states", "merge",
    "next_month", "partial_of", "unique_count", "value_states",
]
