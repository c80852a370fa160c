"""Aggregation semantics (billow.pricing.aggregation), lago-semantics.md §1.1-1.3 and 1.6.

Every worked number of those sections is asserted exactly, plus our own edge cases and
hypothesis invariants.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billow.pricing.aggregation import (
    Aggregation,
    AggregationSpec,
    AggregationType,
    Carried,
    Event,
    RoundingFunction,
    aggregate,
    apply_rounding,
    event_text,
    high_water_mark,
    numeric_value,
)

T0 = datetime(2023, 8, 1, tzinfo=UTC)
T_END = datetime(2023, 8, 31, 23, 59, 59, tzinfo=UTC)
D = Decimal


def ev(at: datetime, order: int = 0, **properties: object) -> Event:
    return Event(transaction_id=f"tx-{order}-{at.isoformat()}", timestamp=at, properties=properties, order=order)


def spec(kind: str, field: str | None = "value", **kw: object) -> AggregationSpec:
    return AggregationSpec(aggregation_type=AggregationType(kind), field_name=field, **kw)


def agg(s: AggregationSpec, events: list[Event], **kw: object) -> Aggregation:
    return aggregate(s, events, T0, T_END, **kw)


# ---- §1.2 docs example: pageviews 10 and 20, same user -------------------------------------------

DOC_EVENTS = [
    ev(T0 + timedelta(hours=1), 1, pageviews=10, tracked_user_id="u1"),
    ev(T0 + timedelta(hours=2), 2, pageviews=20, tracked_user_id="u1"),
]


@pytest.mark.parametrize(
    ("kind", "field", "units"),
    [
        ("count_agg", None, D(2)),
        ("sum_agg", "pageviews", D(30)),
        ("max_agg", "pageviews", D(20)),
        ("unique_count_agg", "tracked_user_id", D(1)),
        ("latest_agg", "pageviews", D(20)),
    ],
)
def test_docs_example(kind: str, field: str | None, units: Decimal) -> None:
    assert agg(spec(kind, field), DOC_EVENTS).units == units


# ---- §1.2 unique count with add/remove -----------------------------------------------------------


def test_unique_count_worked_example() -> None:
    ops = [("001", "add"), ("001", "add"), ("002", "remove"), ("001", "remove"), ("002", "add")]
    events = [ev(T0 + timedelta(minutes=i), i, user=v, operation_type=op) for i, (v, op) in enumerate(ops)]
    result = agg(spec("unique_count_agg", "user"), events)
    assert result.units == D(1)
    assert result.events_count == 5
    assert result.values == (D(1), D(0), D(0), D(-1), D(1))


@pytest.mark.parametrize(
    ("ops", "units"),
    [
        ([], D(0)),
        ([("a", "add")], D(1)),
        ([("a", None)], D(1)),  # operation_type defaults to add
        ([("a", "add"), ("a", "remove"), ("a", "add")], D(1)),
        ([("a", "add"), ("b", "add"), ("a", "remove")], D(1)),
        ([("a", "remove"), ("a", "remove")], D(0)),
        ([("a", "add"), ("a", "remove"), ("a", "remove")], D(0)),
        ([(1, "add"), ("1", "add")], D(1)),  # compared as text
    ],
)
def test_unique_count_cases(ops: list[tuple[object, str | None]], units: Decimal) -> None:
    events = []
    for i, (value, op) in enumerate(ops):
        props = {"user": value} if op is None else {"user": value, "operation_type": op}
        events.append(ev(T0 + timedelta(minutes=i), i, **props))
    assert agg(spec("unique_count_agg", "user"), events).units == units


def test_unique_count_ignores_missing_field() -> None:
    result = agg(spec("unique_count_agg", "user"), [ev(T0, 0, other=1), ev(T0, 1, user=None)])
    assert (result.units, result.events_count) == (D(0), 0)


def test_recurring_unique_count_across_periods() -> None:
    s = spec("unique_count_agg", "user", recurring=True)
    july = [ev(T0 - timedelta(days=10), 0, user="a"), ev(T0 - timedelta(days=9), 1, user="b")]
    first = aggregate(s, july, T0 - timedelta(days=31), T0 - timedelta(seconds=1))
    assert first.units == D(2)
    assert first.carry == Carried(active=frozenset({"a", "b"}))
    august = [
        ev(T0 + timedelta(days=1), 2, user="a", operation_type="remove"),
        ev(T0 + timedelta(days=2), 3, user="c"),
        ev(T0 + timedelta(days=3), 4, user="a"),  # re-add
        ev(T0 + timedelta(days=4), 5, user="b"),  # already active: no-op
    ]
    second = agg(s, august, carried=first.carry)
    assert second.units == D(3)
    assert second.values == (D(-1), D(1), D(1), D(0))
    assert second.events_count == 4
    # All history instead of the carried state gives the same answer.
    assert agg(s, july + august) == second
    # No new events: the carried units are billed again.
    assert agg(s, [], carried=second.carry).units == D(3)


# ---- §1.2 weighted sum --------------------------------------------------------------------------

WS_STEPS = [(0, 0, 2), (1, 0, 3), (1, 30, 1), (2, 0, -4), (4, 0, -2), (5, 0, 10), (5, 30, -10)]
WS_EVENTS = [ev(T0 + timedelta(hours=h, minutes=m), i, value=v) for i, (h, m, v) in enumerate(WS_STEPS)]


def test_weighted_sum_worked_example() -> None:
    result = agg(spec("weighted_sum_agg"), WS_EVENTS, charges_duration_days=31)
    assert result.units == D("0.02218")
    assert result.precise_units == D("0.02218")
    assert result.events_count == 7
    assert result.carry is None


def test_weighted_sum_level_over_whole_period_is_the_level() -> None:
    s = spec("weighted_sum_agg", recurring=True)
    result = agg(s, [], carried=Carried(level=D(5)), charges_duration_days=31)
    assert result.units == D(5)
    assert result.carry == Carried(level=D(5))


def test_weighted_sum_carry_over_and_level_changes() -> None:
    s = spec("weighted_sum_agg", recurring=True)
    july = [ev(T0 - timedelta(days=3), 0, value=4)]
    mid = T0 + timedelta(days=15, hours=12)  # half of the month at 4, half at 4 + 2
    august = [ev(mid, 1, value="2"), ev(mid, 2, value=0)]
    result = agg(s, august, carried=Carried(level=D(4)), charges_duration_days=31)
    assert result.units == D(5)
    assert result.carry == Carried(level=D(6))
    # Pre-window events are history for a recurring metric: same as carrying them.
    assert agg(s, july + august, charges_duration_days=31) == result


def test_weighted_sum_same_timestamp_has_no_duration() -> None:
    at = T0 + timedelta(days=10)
    events = [ev(at, 0, value=100), ev(at, 1, value=-100)]
    assert agg(spec("weighted_sum_agg"), events, charges_duration_days=31).units == D(0)


def test_weighted_sum_short_window_divides_by_full_period() -> None:
    start = T0 + timedelta(days=30)  # the last day only
    result = aggregate(spec("weighted_sum_agg"), [ev(start, 0, value=31)], start, T_END, charges_duration_days=31)
    assert result.units == D(1)


def test_weighted_sum_fractional_end_rounds_to_next_second() -> None:
    end = T_END + timedelta(microseconds=999000)
    result = aggregate(spec("weighted_sum_agg"), [ev(T0, 0, value=1)], T0, end, charges_duration_days=31)
    assert result.units == D(1)


@pytest.mark.parametrize("days", [None, 0])
def test_weighted_sum_needs_duration(days: int | None) -> None:
    with pytest.raises(ValueError, match="charges_duration_days"):
        agg(spec("weighted_sum_agg"), [], charges_duration_days=days)


# ---- §1.1 which events, other types -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        (10, D(10)), ("10", D(10)), ("-3.5", D("-3.5")), (D("1.25"), D("1.25")), (2.5, D("2.5")),
        ("1.", None), (".5", None), ("+1", None), ("1e3", None), ("abc", None), ("", None),
        (" 1", None), (True, None), (None, None), ("١٢", None), ([1], None),
    ],
)
def test_numeric_value(raw: object, number: Decimal | None) -> None:
    assert numeric_value(raw) == number


@pytest.mark.parametrize(
    ("raw", "text"),
    [(None, None), (True, "true"), (False, "false"), (7, "7"), (D("1.50"), "1.50"), (D("1E+2"), "100"), ("x", "x")],
)
def test_event_text(raw: object, text: str | None) -> None:
    assert event_text(raw) == text


def test_non_numeric_events_are_ignored_entirely() -> None:
    events = [ev(T0, 0, value="12"), ev(T0, 1, value="n/a"), ev(T0, 2), ev(T0, 3, value="-2")]
    for kind in ("sum_agg", "max_agg", "latest_agg"):
        result = agg(spec(kind), events)
        assert result.events_count == 2
    assert agg(spec("sum_agg"), events).units == D(10)
    assert agg(spec("count_agg", None), events).events_count == 4


@pytest.mark.parametrize(
    ("kind", "values", "units"),
    [
        ("sum_agg", [5, -8], D(-3)),  # negative totals stay negative here
        ("max_agg", [], D(0)),
        ("max_agg", [-5, -2], D(-2)),
        ("latest_agg", [3, -7], D(0)),  # negative latest -> 0
        ("latest_agg", [-7, 3], D(3)),
        ("latest_agg", [], D(0)),
        ("sum_agg", [], D(0)),
        ("count_agg", [], D(0)),
    ],
)
def test_types(kind: str, values: list[int], units: Decimal) -> None:
    events = [ev(T0 + timedelta(hours=i), i, value=v) for i, v in enumerate(values)]
    field = None if kind == "count_agg" else "value"
    assert agg(spec(kind, field), events).units == units


def test_latest_uses_ingestion_order_on_equal_timestamps() -> None:
    events = [ev(T0, 2, value=9), ev(T0, 1, value=4)]
    result = agg(spec("latest_agg"), events)
    assert result.units == D(9)
    assert result.values == (D(4), D(9))
    assert [e.order for e in result.events] == [1, 2]


def test_window_bounds_are_inclusive() -> None:
    events = [
        ev(T0 - timedelta(seconds=1), 0, value=1),
        ev(T0, 1, value=10),
        ev(T_END, 2, value=100),
        ev(T_END + timedelta(seconds=1), 3, value=1000),
    ]
    result = agg(spec("sum_agg"), events)
    assert (result.units, result.events_count) == (D(110), 2)
    assert agg(spec("count_agg", None), events).units == D(2)


def test_pay_in_advance_cap_at_triggering_event() -> None:
    same = T0 + timedelta(days=2)
    events = [ev(T0, 0, value=1), ev(same, 2, value=10), ev(same, 1, value=100), ev(same, 3, value=1000)]
    result = agg(spec("sum_agg"), events, through=events[1])
    assert (result.units, result.events_count) == (D(111), 3)
    assert agg(spec("count_agg", None), events, through=events[2]).units == D(2)


def test_recurring_sum_counts_all_history_and_carries() -> None:
    s = spec("sum_agg", recurring=True)
    events = [ev(T0 - timedelta(days=40), 0, value=7), ev(T0 + timedelta(days=1), 1, value=-2)]
    result = agg(s, events)
    assert (result.units, result.events_count, result.carry) == (D(5), 1, Carried(level=D(5)))
    assert agg(s, [events[1]], carried=Carried(level=D(7))) == result


# ---- §1.6 rounding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "precision", "expected"),
    [
        ("round", 2, "123.46"), ("round", 0, "123"), ("round", -2, "100"),
        ("ceil", 2, "123.46"), ("ceil", 0, "124"), ("ceil", -2, "200"),
        ("floor", 2, "123.45"), ("floor", -2, "100"),
        ("floor", 0, "123"), (None, 0, "123.456"),
    ],
)
def test_rounding_worked_examples(function: str | None, precision: int, expected: str) -> None:
    assert apply_rounding(D("123.456"), function, precision) == D(expected)
    s = spec("sum_agg", rounding_function=function, rounding_precision=precision)
    result = agg(s, [ev(T0, 0, value="123.456")])
    assert (result.units, result.precise_units) == (D(expected), D("123.456"))


@pytest.mark.parametrize(
    ("value", "function", "precision", "expected"),
    [
        ("2.5", "round", 0, "3"), ("-2.5", "round", 0, "-3"), ("0.125", "round", 2, "0.13"),
        ("-1.2", "ceil", 0, "-1"), ("-1.2", "floor", 0, "-2"), ("150", "round", -2, "200"),
        ("149", "round", -2, "100"), ("1", "ceil", -3, "1000"),
    ],
)
def test_rounding_half_up_and_signs(value: str, function: str, precision: int, expected: str) -> None:
    result = apply_rounding(D(value), RoundingFunction(function), precision)
    assert result == D(expected)
    assert str(result) == expected


# ---- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "field", "recurring", "message"),
    [
        ("count_agg", None, True, "cannot be recurring"),
        ("max_agg", "value", True, "cannot be recurring"),
        ("latest_agg", "value", True, "cannot be recurring"),
        ("sum_agg", None, False, "needs a field_name"),
        ("unique_count_agg", "", False, "needs a field_name"),
    ],
)
def test_spec_validation(kind: str, field: str | None, recurring: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(kind, field, recurring=recurring)


def test_spec_accepts_wire_strings() -> None:
    s = AggregationSpec("sum_agg", "value", rounding_function="ceil")  # type: ignore[arg-type]
    assert (s.aggregation_type, s.rounding_function) == (AggregationType.SUM, RoundingFunction.CEIL)


def test_carry_only_for_recurring_and_window_order() -> None:
    with pytest.raises(ValueError, match="recurring"):
        agg(spec("sum_agg"), [], carried=Carried())
    with pytest.raises(ValueError, match="before"):
        aggregate(spec("sum_agg"), [], T_END, T0)


def test_event_needs_aware_timestamp() -> None:
    with pytest.raises(ValueError, match="aware"):
        Event("t", datetime(2023, 8, 1), {})


# ---- hypothesis ----------------------------------------------------------------------------------

values_st = st.one_of(
    st.integers(-10**6, 10**6),
    st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
)
offsets_st = st.integers(-5 * 86400, 36 * 86400)


@st.composite
def event_lists(draw: st.DrawFn) -> list[Event]:
    rows = draw(st.lists(st.tuples(offsets_st, values_st), max_size=30))
    return [ev(T0 + timedelta(seconds=s), i, value=v) for i, (s, v) in enumerate(rows)]


@settings(max_examples=60, deadline=None)
@given(event_lists(), st.randoms())
def test_sum_is_order_independent(events: list[Event], rnd: object) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert agg(spec("sum_agg"), shuffled).units == agg(spec("sum_agg"), events).units


@settings(max_examples=60, deadline=None)
@given(event_lists())
def test_count_is_number_of_events_in_window(events: list[Event]) -> None:
    inside = [e for e in events if T0 <= e.timestamp <= T_END]
    result = agg(spec("count_agg", None), events)
    assert result.units == len(inside) == result.events_count


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30 * 86400), st.sampled_from("abcdefg")), max_size=30))
def test_unique_count_of_adds_is_distinct_values(rows: list[tuple[int, str]]) -> None:
    events = [ev(T0 + timedelta(seconds=s), i, user=v) for i, (s, v) in enumerate(rows)]
    assert agg(spec("unique_count_agg", "user"), events).units == len({v for _, v in rows})


@settings(max_examples=60, deadline=None)
@given(event_lists(), st.integers(1, 30))
def test_recurring_sum_split_and_carry_equals_whole(events: list[Event], split_day: int) -> None:
    s = spec("sum_agg", recurring=True)
    cut = T0 + timedelta(days=split_day)
    first = aggregate(s, [e for e in events if e.timestamp < cut], T0, cut - timedelta(seconds=1))
    second = aggregate(s, [e for e in events if e.timestamp >= cut], cut, T_END, carried=first.carry)
    assert second.units == agg(s, events).units


def _mark_events(*props: dict[str, Any]) -> list[Event]:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    # Listed newest first: the mark walks them in time order whatever the order given.
    return [Event(f"e{i}", start + timedelta(minutes=i), p, i) for i, p in reversed(list(enumerate(props)))]


@pytest.mark.parametrize(
    ("aggregation_type", "props", "mark"),
    [
        # +10, -4, +8: the running sum reaches 10, falls to 6, then 14; a non-numeric value counts 0.
        ("sum_agg", [{"v": 10}, {"v": -4}, {"v": "x"}, {"v": 8}], Decimal(14)),
        ("sum_agg", [{"v": -5}], Decimal(0)),  # never below 0
        # a, b active (2), a removed, c added: 2 again; a value-less event changes nothing.
        ("unique_count_agg", [{"v": "a"}, {"v": "b"}, {"v": "a", "operation_type": "remove"}, {"v": "c"}, {}],
         Decimal(2)),
        ("count_agg", [{}, {}, {}], Decimal(3)),
        ("count_agg", [], Decimal(0)),
    ],
)
def test_high_water_mark(aggregation_type: str, props: list[dict[str, Any]], mark: Decimal) -> None:
    assert high_water_mark(aggregation_type, "v", _mark_events(*props)) == mark


@pytest.mark.parametrize(
    ("aggregation_type", "props", "since_minute", "mark"),
    [
        # Seats: +5, -2 before the period (3 carried), then +4: the mark starts at 3 and reaches 7.
        ("sum_agg", [{"v": 5}, {"v": -2}, {"v": 4}], 2, Decimal(7)),
        # 3 carried, -2 in the period: the mark stays at the carried 3 (a fall lowers no mark).
        ("sum_agg", [{"v": 5}, {"v": -2}, {"v": -2}], 2, Decimal(3)),
        # a, b, c carried; c removed, d added: back to 3, never above the carried 3.
        ("unique_count_agg", [{"v": "a"}, {"v": "b"}, {"v": "c"}, {"v": "c", "operation_type": "remove"},
                              {"v": "d"}], 3, Decimal(3)),
        # Nothing in the period yet: the mark is the carried level.
        ("sum_agg", [{"v": 5}, {"v": -2}], 9, Decimal(3)),
        ("sum_agg", [], 0, Decimal(0)),
    ],
)
def test_high_water_mark_from_the_carried_level(aggregation_type: str, props: list[dict[str, Any]],
                                                 since_minute: int, mark: Decimal) -> None:
    since = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=since_minute)
    assert high_water_mark(aggregation_type, "v", _mark_events(*props), since) == mark
