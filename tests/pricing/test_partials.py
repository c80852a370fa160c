"""Incremental aggregation (billow.pricing.partials) agrees with the in-memory reference.

Events are cut into UTC-hour buckets the way the database keeps them; hours wholly inside the
window are read as stored partials, the ragged edges from raw events. Every aggregation type must
give exactly what ``aggregate`` gives on the raw events.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billow.pricing.aggregation import AggregationSpec, Event, aggregate, end_instant, in_time_order
from billow.pricing.partials import (
    HOUR,
    Grain,
    cover,
    next_month,
    Partial,
    ValueState,
    finish,
    hour_of,
    latest_states,
    merge,
    partial_of,
    unique_count,
    value_states,
)

D = Decimal
T0 = datetime(2024, 3, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


def incremental(spec: AggregationSpec, events: list[Event], start: datetime, stop: datetime) -> tuple[Decimal, int]:
    """Units and events count of [start, stop] from hour partials plus raw edges."""
    buckets: dict[datetime, list[Event]] = defaultdict(list)
    for event in events:
        buckets[hour_of(event.timestamp)].append(event)
    full = {hour for hour in buckets if hour >= start and hour + HOUR <= stop + MICRO}
    edges = [e for e in events if start <= e.timestamp <= stop and hour_of(e.timestamp) not in full]
    end = end_instant(stop)
    if spec.aggregation_type == "unique_count_agg":
        field = spec.field_name or ""
        counted = [e for e in events if e.timestamp <= stop and (spec.recurring or e.timestamp >= start)]
        groups = [value_states(field, buckets[hour]).values() for hour in buckets if hour in full or
                  (spec.recurring and hour + HOUR <= start)]
        groups.append(value_states(field, [e for e in counted if hour_of(e.timestamp) not in full and
                                            not (spec.recurring and hour_of(e.timestamp) + HOUR <= start)]).values())
        in_window = [e for e in counted if e.timestamp >= start and e.properties.get(field) is not None]
        result = unique_count(spec, latest_states(groups).values(), len(in_window))
        return result.units, result.events_count
    partials = [partial_of(spec.field_name, buckets[hour], hour + HOUR) for hour in sorted(full)]
    partials.append(partial_of(spec.field_name, edges, end))
    level = D(0)
    if spec.recurring:
        before = partial_of(spec.field_name, [e for e in events if e.timestamp < start], end)
        level = before.total
    result = finish(spec, merge(partials, end), start, stop, level_before=level, charges_duration_days=31)
    return result.units, result.events_count


values = st.one_of(
    st.decimals(min_value=-50, max_value=200, places=2, allow_nan=False, allow_infinity=False).map(str),
    st.integers(-5, 40),
    st.sampled_from([None, "abc", "1e3"]),
)


@st.composite
def event_streams(draw: st.DrawFn) -> list[Event]:
    rows = draw(st.lists(st.tuples(st.integers(0, 4 * 24 * 3600 * 1000), values, st.sampled_from(["a", "b", "c"]),
                                   st.booleans()), max_size=40))
    events = []
    for order, (millis, value, user, remove) in enumerate(rows):
        props = {"v": value, "user": user}
        if remove:
            props["operation_type"] = "remove"
        events.append(Event(f"t{order}", T0 + timedelta(milliseconds=millis), props, order))
    return events


SPECS = [
    AggregationSpec("count_agg"),
    AggregationSpec("sum_agg", "v"),
    AggregationSpec("sum_agg", "v", recurring=True),
    AggregationSpec("max_agg", "v"),
    AggregationSpec("latest_agg", "v"),
    AggregationSpec("weighted_sum_agg", "v"),
    AggregationSpec("weighted_sum_agg", "v", recurring=True),
    AggregationSpec("sum_agg", "v", rounding_function="ceil", rounding_precision=1),
    AggregationSpec("unique_count_agg", "user"),
    AggregationSpec("unique_count_agg", "user", recurring=True),
]


@settings(max_examples=150, deadline=None)
@given(events=event_streams(), spec=st.sampled_from(SPECS),
       start_ms=st.integers(0, 2 * 24 * 3600 * 1000), length_ms=st.integers(0, 2 * 24 * 3600 * 1000),
       whole_hours=st.booleans())
def test_hour_partials_plus_edges_equal_the_reference(events: list[Event], spec: AggregationSpec, start_ms: int,
                                                      length_ms: int, whole_hours: bool) -> None:
    start = T0 + timedelta(milliseconds=start_ms)
    stop = start + timedelta(milliseconds=length_ms)
    if whole_hours:  # the usual case: a period from local midnight to the last microsecond
        start = hour_of(start)
        stop = hour_of(stop) + HOUR - MICRO
    expected = aggregate(spec, events, start, stop, charges_duration_days=31)
    assert incremental(spec, events, start, stop) == (expected.units, expected.events_count)


def ev(minute: int, value: object, order: int = 0, **props: object) -> Event:
    return Event(f"t{minute}-{order}", T0 + timedelta(minutes=minute), {"v": value, **props}, order)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (AggregationSpec("count_agg"), (D(4), 4)),
        (AggregationSpec("sum_agg", "v"), (D("13.5"), 3)),
        (AggregationSpec("max_agg", "v"), (D("10"), 3)),
        (AggregationSpec("latest_agg", "v"), (D("0"), 3)),  # the latest value is negative -> 0
    ],
)
def test_merged_partials_price_a_known_stream(spec: AggregationSpec, expected: tuple[Decimal, int]) -> None:
    events = [ev(5, "10"), ev(70, "5.5"), ev(80, "oops"), ev(130, "-2")]
    end = T0 + 3 * HOUR
    parts = [partial_of(spec.field_name, [e], hour_of(e.timestamp) + HOUR) for e in events]
    result = finish(spec, merge(parts, end), T0, end - MICRO)
    assert (result.units, result.events_count) == expected


def test_weighted_sum_of_the_reference_example() -> None:
    # lago-semantics.md 1.2: Aug 2023, 59 400 level-seconds over 31 days -> 0.02218.
    start = datetime(2023, 8, 1, tzinfo=UTC)
    steps = [(0, 2), (60, 3), (90, 1), (120, -4), (240, -2), (300, 10), (330, -10)]
    events = [Event(f"w{i}", start + timedelta(minutes=m), {"v": v}, i) for i, (m, v) in enumerate(steps)]
    stop = datetime(2023, 8, 31, 23, 59, 59, tzinfo=UTC)
    parts = [partial_of("v", [e], hour_of(e.timestamp) + HOUR) for e in events]
    spec = AggregationSpec("weighted_sum_agg", "v")
    result = finish(spec, merge(parts, end_instant(stop)), start, stop, charges_duration_days=31)
    assert result.units == D("0.02218")


def test_a_partial_shifts_its_tail_to_a_later_end() -> None:
    part = partial_of("v", [ev(0, "2")], T0 + HOUR)
    assert part.tail == D(7200)
    assert part.tail_at(T0 + 2 * HOUR) == D(14400)


def test_unique_count_keeps_the_last_operation_per_value() -> None:
    events = [ev(1, 0, 0, user="001"), ev(2, 0, 1, user="001"), ev(3, 0, 2, user="002", operation_type="remove"),
              ev(4, 0, 3, user="001", operation_type="remove"), ev(5, 0, 4, user="002")]
    states = value_states("user", in_time_order(events))
    assert states == {
        "001": ValueState("001", (T0 + timedelta(minutes=4), 3), False),
        "002": ValueState("002", (T0 + timedelta(minutes=5), 4), True),
    }
    assert unique_count(AggregationSpec("unique_count_agg", "user"), states.values(), 5).units == D(1)
    older = ValueState("002", (T0, 0), False)
    assert latest_states([[states["002"]], [older]])["002"].added is True


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: finish(AggregationSpec("sum_agg", "v"), Partial(T0), T0, T0, level_before=D(1)), "carry a level"),
        (lambda: finish(AggregationSpec("weighted_sum_agg", "v"), Partial(T0), T0, T0), "charges_duration_days"),
        (lambda: finish(AggregationSpec("unique_count_agg", "v"), Partial(T0), T0, T0), "ValueState"),
        (lambda: unique_count(AggregationSpec("sum_agg", "v"), [], 0), "unique_count_agg"),
    ],
)
def test_misuse_is_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_a_count_metric_without_field_counts_every_event() -> None:
    part = partial_of(None, [ev(0, "x"), ev(1, None)], T0 + HOUR)
    assert (part.events, part.counted, part.total) == (2, 0, D(0))


def test_unique_count_partials_count_events_carrying_the_field() -> None:
    events = [ev(0, 1, user="a"), ev(1, 1), ev(2, 1, user=None), ev(3, 1, user="b")]
    assert partial_of("user", events, T0 + HOUR, present=True) == Partial(T0 + HOUR, 2, 2)
    assert set(value_states("user", events)) == {"a", "b"}


# ---- grains and the cover of a window --------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2023, 10, 1), max_value=datetime(2025, 3, 1), timezones=st.just(UTC))


@settings(max_examples=300)
@given(instants, instants)
def test_cover_tiles_the_window_with_aligned_buckets(a: datetime, b: datetime) -> None:
    start, end = sorted((hour_of(a), hour_of(b)))
    runs = cover(start, end)
    cursor = start
    for grain, first, stop in runs:
        assert first == cursor and stop > first
        bucket = first
        while bucket < stop:  # every bucket of the run is whole and aligned to its grain
            assert grain.start(bucket) == bucket
            bucket = grain.end(bucket)
        assert bucket == stop
        cursor = stop
    assert cursor == end
    assert len(runs) <= 5


@pytest.mark.parametrize(("start", "end", "expected"), [
    # within one day: hours only
    ("2024-03-05T10", "2024-03-05T15", [(Grain.HOUR, "2024-03-05T10", "2024-03-05T15")]),
    # across days inside a month: hours, days, hours
    ("2024-03-05T10", "2024-03-09T03", [(Grain.HOUR, "2024-03-05T10", "2024-03-06T00"),
                                        (Grain.DAY, "2024-03-06T00", "2024-03-09T00"),
                                        (Grain.HOUR, "2024-03-09T00", "2024-03-09T03")]),
    # a calendar month: one month bucket
    ("2024-02-01T00", "2024-03-01T00", [(Grain.MONTH, "2024-02-01T00", "2024-03-01T00")]),
    # across a year end: days to the month, months, days, hours
    ("2024-11-20T00", "2025-02-03T05", [(Grain.DAY, "2024-11-20T00", "2024-12-01T00"),
                                        (Grain.MONTH, "2024-12-01T00", "2025-02-01T00"),
                                        (Grain.DAY, "2025-02-01T00", "2025-02-03T00"),
                                        (Grain.HOUR, "2025-02-03T00", "2025-02-03T05")]),
    ("2024-03-05T10", "2024-03-05T10", []),
])
def test_cover_examples(start: str, end: str, expected: list[tuple[Grain, str, str]]) -> None:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text + ":00").replace(tzinfo=UTC)

    assert cover(at(start), at(end)) == [(grain, at(a), at(b)) for grain, a, b in expected]


def test_grain_buckets() -> None:
    instant = datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert Grain.HOUR.start(instant) == datetime(2024, 12, 31, 23, tzinfo=UTC)
    assert Grain.DAY.start(instant) == datetime(2024, 12, 31, tzinfo=UTC)
    assert Grain.MONTH.start(instant) == datetime(2024, 12, 1, tzinfo=UTC)
    assert Grain.MONTH.end(Grain.MONTH.start(instant)) == next_month(instant) == datetime(2025, 1, 1, tzinfo=UTC)
    assert next_month(datetime(2024, 2, 10, tzinfo=UTC)) == datetime(2024, 3, 1, tzinfo=UTC)
    assert Grain.DAY.end(datetime(2024, 2, 29, tzinfo=UTC)) == datetime(2024, 3, 1, tzinfo=UTC)


def test_partials_without_tails_keep_everything_else() -> None:
    """Metrics other than weighted sums keep no level-seconds; the other fields are the same."""
    events = [ev(0, "2"), ev(1, "5"), ev(2, "x")]
    with_tail = partial_of("v", events, T0 + 3 * HOUR)
    without = partial_of("v", events, T0 + 3 * HOUR, tail=False)
    assert without.tail == 0 and with_tail.tail > 0
    assert (without.events, without.counted, without.total, without.maximum, without.latest_value) == (
        with_tail.events, with_tail.counted, with_tail.total, with_tail.maximum, with_tail.latest_value)
    merged = merge([without, partial_of("v", [ev(4, "1")], T0 + 5 * HOUR, tail=False)], T0 + 6 * HOUR, tail=False)
    assert (merged.tail, merged.total, merged.events) == (0, D(8), 4)
