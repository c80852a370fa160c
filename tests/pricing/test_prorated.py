"""Prorated aggregation (billow.pricing.prorated), lago-semantics.md 1.4.

Every worked number of 1.4 is asserted exactly, plus timezone and DST cases, termination and
upgrade windows, pay-in-advance units and hypothesis invariants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billow.pricing.aggregation import AggregationSpec, Carried, Event, aggregate
from billow.pricing.periods import BillingCycle, end_of_local_day, start_of_local_day
from billow.pricing.prorated import (
    ProratedValue,
    ProrationWindow,
    advance_prorated_units,
    ceil_five,
    prorated_aggregate,
)
from billow.pricing.proration import ARITHMETIC

D = Decimal
NY = "America/New_York"
SUM = AggregationSpec("sum_agg", "value", recurring=True)
UNIQUE = AggregationSpec("unique_count_agg", "user", recurring=True)


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ev(when: datetime, order: int, **properties: Any) -> Event:
    return Event(f"tx-{order}", when, properties, order)


def local_window(first: date, last: date, timezone: str = "UTC", **kw: Any) -> ProrationWindow:
    """The window of local days ``first``-``last`` (a full period unless ``kw`` says otherwise)."""
    return ProrationWindow(start_of_local_day(first, timezone), end_of_local_day(last, timezone),
                           kw.pop("duration", (last - first).days + 1), timezone, **kw)


MAY = local_window(date(2023, 5, 1), date(2023, 5, 31))
JULY = local_window(date(2023, 7, 9), date(2023, 8, 8))  # 31 days


def ratio(numerator: int, denominator: int = 31) -> Decimal:
    return ARITHMETIC.divide(D(numerator), D(denominator))


def pairs(*items: tuple[Any, Any]) -> tuple[ProratedValue, ...]:
    return tuple(ProratedValue(D(str(full)), D(str(prorated))) for full, prorated in items)


# ---- sum ----------------------------------------------------------------------------------------


def test_sum_worked_example_may_2023() -> None:
    events = [
        ev(at(2023, 4, 10), 1, value="2.5"),
        ev(at(2023, 4, 20), 2, value="2.5"),
        ev(at(2023, 5, 26, 9), 3, value=12),
        ev(at(2023, 5, 26, 18), 4, value=12),
    ]
    result = prorated_aggregate(SUM, events, MAY)
    assert result.units == D("9.64517")  # 5 + 2 x 12 x 6/31 = 9.645161..., rounded up
    assert result.full.units == D(29)
    assert result.full.events_count == 2
    assert [p.full for p in result.values] == [D(5), D(12), D(12)]
    assert result.values[0].prorated == D(5)
    assert result.values[1].prorated == result.values[2].prorated == ratio(72)


def test_sum_same_with_carry_or_history() -> None:
    inside = [ev(at(2023, 5, 26), 3, value=12), ev(at(2023, 5, 26), 4, value=12)]
    with_history = prorated_aggregate(SUM, [ev(at(2023, 4, 10), 1, value=5), *inside], MAY)
    with_carry = prorated_aggregate(SUM, inside, MAY, carried=Carried(level=D(5)))
    assert with_carry == with_history


@pytest.mark.parametrize(
    ("window", "carried", "events", "units", "full", "values"),
    [
        # an event on the first day counts whole, one on the last day for 1/31
        (MAY, 0, [(at(2023, 5, 1, 0), "10")], "10", "10", [(10, 10)]),
        (MAY, 0, [(at(2023, 5, 31, 23, 59), "31")], "1", "31", [(31, 1)]),
        (MAY, 0, [(at(2023, 5, 16), "1")], "0.51613", "1", [(1, ratio(16))]),  # 0.516129 rounds up
        # negative values: the total is still rounded towards +infinity
        (MAY, 0, [(at(2023, 5, 22), "-1")], "-0.32258", "-1", [(-1, ratio(-10))]),
        (MAY, 3, [(at(2023, 5, 11), "-3")], "0.96775", "0", [(3, 3), (-3, ratio(-63))]),  # 30/31
        # nothing in the window, nothing carried
        (MAY, 0, [], "0", "0", []),
        # events after the window and non-numeric values are ignored
        (MAY, 0, [(at(2023, 6, 1, 0), "4"), (at(2023, 5, 1), "x")], "0", "0", []),
        # window cut by termination on May 10: carried value counts 10 of 31 days
        (local_window(date(2023, 5, 1), date(2023, 5, 10), duration=31), 31, [(at(2023, 5, 10), "31")],
         "11", "62", [(31, 10), (31, 1)]),
        # the old side of an upgrade on May 10: one day less for the carried value
        (local_window(date(2023, 5, 1), date(2023, 5, 10), duration=31, upgraded_away=True), 31, [],
         "9", "31", [(31, 9)]),
    ],
)
def test_prorated_sum(window: ProrationWindow, carried: int, events: list[tuple[datetime, str]], units: str,
                      full: str, values: list[tuple[Any, Any]]) -> None:  # fmt: skip
    stream = [ev(when, index, value=value) for index, (when, value) in enumerate(events)]
    result = prorated_aggregate(SUM, stream, window, carried=Carried(level=D(carried)))
    assert result.units == D(units)
    assert result.full.units == D(full)
    assert result.values == pairs(*values)


def test_termination_mid_day_counts_the_termination_day() -> None:
    window = ProrationWindow(start_of_local_day(date(2023, 5, 1), "UTC"), at(2023, 5, 10, 14), 31)
    result = prorated_aggregate(SUM, [ev(at(2023, 5, 10, 9), 1, value=31)], window, carried=Carried(level=D(31)))
    assert result.values == pairs((31, 10), (31, 1))


def test_metric_rounding_applies_after_the_five_decimal_ceiling() -> None:
    spec = AggregationSpec("sum_agg", "value", recurring=True, rounding_function="round", rounding_precision=1)
    result = prorated_aggregate(spec, [ev(at(2023, 5, 16), 1, value=1)], MAY)
    assert (result.precise_units, result.units) == (D("0.51613"), D("0.5"))
    assert result.full.units == D("1.0")


# ---- timezones ----------------------------------------------------------------------------------


def test_customer_timezone_moves_the_event_to_the_previous_day() -> None:
    window = local_window(date(2023, 5, 1), date(2023, 5, 31), NY)
    # 02:00 UTC on May 26 is 22:00 on May 25 in New York: 7 days left, not 6.
    ny = prorated_aggregate(SUM, [ev(at(2023, 5, 26, 2), 1, value=31)], window)
    utc = prorated_aggregate(SUM, [ev(at(2023, 5, 26, 2), 1, value=31)], MAY)
    assert (ny.units, utc.units) == (D(7), D(6))


def test_window_across_the_end_of_dst() -> None:
    # November 2023 in New York has 30 days and 30 days + 1 hour: the carried value counts 30/30.
    window = local_window(date(2023, 11, 1), date(2023, 11, 30), NY)
    assert window.charges_to - window.charges_from == timedelta(days=30, hours=1, seconds=-1)
    assert window.window_days == 30
    # 03:00 UTC on Nov 10 is 22:00 on Nov 9 in New York: 22 days left.
    result = prorated_aggregate(SUM, [ev(at(2023, 11, 10, 3), 1, value=30)], window, carried=Carried(level=D(30)))
    assert result.values == pairs((30, 30), (30, 22))
    assert result.units == D(52)


def test_window_from_a_billing_window() -> None:
    cycle = BillingCycle.for_subscription("monthly", "calendar", at(2023, 3, 1, 5), NY)
    period = cycle.period_for_date(date(2023, 3, 1))  # DST starts on March 12
    billing = cycle.window(period, started_at=at(2023, 3, 1, 5), terminated_at=None)
    window = ProrationWindow.of(billing)
    assert (window.charges_duration_days, window.window_days, window.timezone) == (31, 31, NY)
    assert ProrationWindow.of(billing, upgraded_away=True).window_days == 30
    assert window.days_left(at(2023, 3, 13, 3)) == 20  # local March 12


# ---- unique count -------------------------------------------------------------------------------

ADD, REMOVE = "add", "remove"


@pytest.mark.parametrize(
    ("steps", "units", "full"),
    [
        # the five worked examples, period Jul 9 - Aug 8 (31 days)
        ([(at(2023, 7, 1), ADD)], "1", 1),
        ([(at(2023, 7, 19), ADD)], "0.67742", 1),  # 21/31
        ([(at(2023, 7, 1), ADD), (at(2023, 7, 24), REMOVE)], "0.51613", 0),  # 16/31
        ([(at(2023, 7, 10), ADD), (at(2023, 8, 7), REMOVE)], "0.93549", 0),  # 29/31
        ([(at(2023, 7, 20, 1), ADD), (at(2023, 7, 20, 2), REMOVE), (at(2023, 7, 20, 3), ADD),
          (at(2023, 7, 20, 4), REMOVE)], "0.03226", 0),  # 1/31
        # removed and added back the same day: no gap and no day counted twice
        ([(at(2023, 7, 1), ADD), (at(2023, 7, 20, 8), REMOVE), (at(2023, 7, 20, 9), ADD)], "1", 1),
        # removed one day, added back the next: both days count
        ([(at(2023, 7, 1), ADD), (at(2023, 7, 20), REMOVE), (at(2023, 7, 21), ADD)], "1", 1),
        # removed, then added again days later: 12 + 9 days
        ([(at(2023, 7, 1), ADD), (at(2023, 7, 20), REMOVE), (at(2023, 7, 31), ADD)], "0.67742", 1),
        # repeated adds count once, orphan and repeated removes nothing
        ([(at(2023, 7, 19), ADD), (at(2023, 7, 25), ADD)], "0.67742", 1),
        ([(at(2023, 7, 19), REMOVE), (at(2023, 7, 25), REMOVE)], "0", 0),
        # added and removed before the period, or only after it
        ([(at(2023, 6, 1), ADD), (at(2023, 6, 5), REMOVE)], "0", 0),
        ([(at(2023, 8, 9, 0), ADD)], "0", 0),
        # added before, removed on the first day of the period: that day counts
        ([(at(2023, 6, 1), ADD), (at(2023, 7, 9), REMOVE)], "0.03226", 0),
    ],
)
def test_prorated_unique_count(steps: list[tuple[datetime, str]], units: str, full: int) -> None:
    events = [ev(when, i, user="u1", operation_type=op) for i, (when, op) in enumerate(steps)]
    result = prorated_aggregate(UNIQUE, events, JULY)
    assert result.units == D(units)
    assert result.full.units == D(full)
    assert sum((p.full for p in result.values), D(0)) == full


def test_unique_count_values_for_graduated_pricing() -> None:
    events = [
        ev(at(2023, 7, 1), 1, user="a"),
        ev(at(2023, 6, 1), 2, user="b"),
        ev(at(2023, 6, 9), 3, user="b", operation_type=REMOVE),  # a whole cycle before the period
        ev(at(2023, 7, 19), 4, user="c"),
        ev(at(2023, 7, 24), 5, user="a", operation_type=REMOVE),
        ev(at(2023, 7, 26), 6, user="d", operation_type=REMOVE),  # orphan
        ev(at(2023, 7, 27), 7, note="no user"),
    ]
    result = prorated_aggregate(UNIQUE, events, JULY, carried=Carried(active=frozenset({"z"})))
    assert result.values == (
        ProratedValue(D(1), D(1)),  # z, carried in
        ProratedValue(D(1), ratio(16)),  # a, from the start to Jul 24
        ProratedValue(D(1), ratio(21)),  # c
        ProratedValue(D(-1), D(0)),  # a removed
    )
    assert result.units == ceil_five(D(68) / D(31))
    assert result.full.units == D(2)


def test_unique_count_carried_set_or_history_agree() -> None:
    inside = [ev(at(2023, 7, 24), 5, user="a", operation_type=REMOVE)]
    with_history = prorated_aggregate(UNIQUE, [ev(at(2023, 7, 1), 1, user="a"), *inside], JULY)
    with_carry = prorated_aggregate(UNIQUE, inside, JULY, carried=Carried(active=frozenset({"a"})))
    assert with_carry.units == with_history.units == D("0.51613")
    assert with_carry.values == with_history.values


def test_unique_count_days_are_customer_days() -> None:
    window = local_window(date(2023, 7, 9), date(2023, 8, 8), NY)
    # 02:00 UTC on Jul 19 is 22:00 on Jul 18 in New York: 22 days.
    result = prorated_aggregate(UNIQUE, [ev(at(2023, 7, 19, 2), 1, user="u")], window)
    assert result.units == ceil_five(D(22) / D(31))
    # added at 23:30 and removed at 00:30 New York time: two local days; in UTC one
    events = [ev(at(2023, 7, 21, 3, 30), 1, user="u"), ev(at(2023, 7, 21, 4, 30), 2, user="u", operation_type=REMOVE)]
    assert prorated_aggregate(UNIQUE, events, window).units == ceil_five(ratio(2))
    assert prorated_aggregate(UNIQUE, events, JULY).units == ceil_five(ratio(1))
    # removed at 23:30 and added back at 00:30 New York time: two local days, each counted once,
    # so the total is whole either way but the value is split in two in New York
    events = [ev(at(2023, 7, 1), 1, user="u"), ev(at(2023, 7, 21, 3, 30), 2, user="u", operation_type=REMOVE),
              ev(at(2023, 7, 21, 4, 30), 3, user="u")]  # fmt: skip
    ny = prorated_aggregate(UNIQUE, events, window)
    assert ny.values == pairs((1, ratio(12)), (-1, 0), (1, ratio(19)))
    assert ny.units == D(1)
    # the same instants in UTC are one day: the remove is dropped and the value stays whole
    assert prorated_aggregate(UNIQUE, events, JULY).values == pairs((1, 1))


# ---- pay in advance -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("increase", "when", "window", "units"),
    [
        ("3", at(2023, 5, 1, 0), MAY, "3"),
        ("1", at(2023, 5, 31), MAY, "0.03226"),  # 1/31 rounded up
        ("2", at(2023, 5, 26), MAY, "0.38710"),  # 12/31 = 0.387096...
        ("2", at(2023, 5, 26, 2), local_window(date(2023, 5, 1), date(2023, 5, 31), NY), "0.45162"),  # 14/31
        ("0", at(2023, 5, 26), MAY, "0"),
    ],
)
def test_advance_prorated_units(increase: str, when: datetime, window: ProrationWindow, units: str) -> None:
    assert advance_prorated_units(D(increase), when, window) == D(units)


# ---- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        AggregationSpec("sum_agg", "value"),
        AggregationSpec("weighted_sum_agg", "value", recurring=True),
    ],
)
def test_only_recurring_sum_and_unique_count(spec: AggregationSpec) -> None:
    with pytest.raises(ValueError, match="recurring sum and unique count"):
        prorated_aggregate(spec, [], MAY)


@pytest.mark.parametrize(
    ("start", "end", "duration", "message"),
    [
        (at(2023, 5, 1), at(2023, 5, 31), 0, "positive"),
        (at(2023, 5, 31), at(2023, 5, 1), 31, "before"),
    ],
)
def test_window_validation(start: datetime, end: datetime, duration: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProrationWindow(start, end, duration)


# ---- properties ---------------------------------------------------------------------------------

DAYS = st.integers(0, 30)  # offsets into May
VALUES = st.decimals(min_value=0, max_value=1000, places=3)


def _may_events(draw_days: list[int], values: list[Decimal]) -> list[Event]:
    return [ev(at(2023, 5, 1 + day), index, value=str(value))
            for index, (day, value) in enumerate(zip(draw_days, values, strict=True))]  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(DAYS, VALUES), max_size=8), VALUES)
def test_prorated_sum_is_at_most_the_full_sum(items: list[tuple[int, Decimal]], carried: Decimal) -> None:
    events = _may_events([day for day, _ in items], [value for _, value in items])
    result = prorated_aggregate(SUM, events, MAY, carried=Carried(level=carried))
    assert D(0) <= result.units <= result.full.units
    assert sum((p.full for p in result.values), D(0)) == result.full.precise_units


@settings(max_examples=80, deadline=None)
@given(st.lists(VALUES, max_size=8), VALUES)
def test_prorated_sum_on_the_first_day_is_the_full_sum(values: list[Decimal], carried: Decimal) -> None:
    events = _may_events([0] * len(values), values)
    result = prorated_aggregate(SUM, events, MAY, carried=Carried(level=carried))
    assert result.units == result.full.units == carried + sum(values, D(0))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(-20, 30), st.sampled_from("abcde")), max_size=10))
def test_prorated_unique_count_of_adds_is_at_most_the_distinct_count(items: list[tuple[int, str]]) -> None:
    events = [ev(JULY.charges_from + timedelta(days=day, hours=index), index, user=user)
              for index, (day, user) in enumerate(items)]  # fmt: skip
    result = prorated_aggregate(UNIQUE, events, JULY)
    full = aggregate(UNIQUE, events, JULY.charges_from, JULY.charges_to)
    assert result.full == full
    assert D(0) <= result.units <= full.units == len({user for _, user in items})
