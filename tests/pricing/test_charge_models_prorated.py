"""Prorated graduated and prorated volume pricing (billow.pricing.charge_models_prorated), lago-semantics.md
2.4 and 2.5.

The table holds the reference's worked example, the other cases of Lago's own spec for this model
(numbers only) and our cases; amounts are asserted after the fee's single rounding to cents.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billow.core.money import to_minor_units
from billow.pricing.aggregation import AggregationSpec, Carried, Event
from billow.pricing.charge_models import (
    ChargeInputs,
    compute,
    graduated,
    standard,
    volume,
)
from billow.pricing.charge_models_prorated import SETTLED, prorated_graduated
from billow.pricing.periods import end_of_local_day, start_of_local_day
from billow.pricing.properties import parse_properties
from billow.pricing.prorated import ProratedValue, ProrationWindow, prorated_aggregate

D = Decimal


def tier(low: Any, high: Any, unit: Any, flat: Any = "0") -> dict[str, Any]:
    return {"from_value": low, "to_value": high, "per_unit_amount": unit, "flat_amount": flat}


def grad(*tiers: dict[str, Any]) -> Any:
    return parse_properties("graduated", {"graduated_ranges": list(tiers)})


TWO = grad(tier(0, 5, "10", "100"), tier(6, None, "5", "50"))
NARROW = grad(tier(0, 1, "10", "100"), tier(2, None, "5", "50"))
THREE = grad(tier(0, 5, "10", "100"), tier(6, 15, "5", "50"), tier(16, None, "2"))
ADJACENT = grad(tier(0, "0.1", "10"), tier("0.1", 1, "5", "1"), tier(1, None, "2"))


def events(full: list[Any], prorated: list[Any]) -> list[ProratedValue]:
    return [ProratedValue(D(str(f)), D(str(p))) for f, p in zip(full, prorated, strict=True)]


def cents(properties: Any, full: list[Any], prorated: list[Any], units: Any = None) -> int:
    values = events(full, prorated)
    total = sum((v.prorated for v in values), D(0)) if units is None else D(str(units))
    return to_minor_units(prorated_graduated(total, values, properties).amount, "EUR")


@pytest.mark.parametrize(
    ("properties", "full", "prorated", "expected_cents"),
    [
        # the reference's worked example: 3.5 x 10 + (2.66667 + 2 - 2.2) x 5 + 100 + 50
        (TWO, [5, 5, 10, -6], ["3.5", "2.66667", "2", "-2.2"], 19733),
        # Lago's spec cases for this model
        (TWO, [2, 5, 10, -6], ["1.4", "2.66667", "2", "-2.2"], 18433),
        (TWO, [1, 4, 1, -5, -1], ["0.7097", "1.54839", "0.2258", "-0.80645", "-0.0645"], 16581),
        (TWO, [5, -2], ["3.5", "-1"], 12500),
        (TWO, [4, 2, -3], ["2.8", "1", "-0.6"], 18050),
        (TWO, [5, 2, -4, 10], ["3.5", "1", "-1.6", "2"], 19000),
        (TWO, [5, -100], ["2", "-33.33"], 0),
        (TWO, [4, -100], ["1.6", "-33.33"], 0),
        (TWO, [1], ["0.7"], 10700),
        (NARROW, [1], ["0.7"], 10700),  # the second tier's flat fee is not reached
        (THREE, [2, 5, 10, -6, 4, 60], ["1.4", "2.5", "2", "-2.2", "0.667", "2"], 19134),
        (THREE, [75], [75], 37000),
        # all events in the first tier: (2 + 1.5) x 10 + 100
        (TWO, [2, 3], [2, "1.5"], 13500),
        # one event across two boundaries: (5 x 10 + 10 x 5 + 5 x 2) x 0.7 + 150
        (THREE, [20], [14], 22700),
        # falling back from the third tier into the second: the 7 units leaving the second tier are
        # credited at its price (77 - 45 x 0.5 + 150); the literal step 2a would give 179.50
        (THREE, [20, -12], [14, -6], 20450),
        # falling back through two boundaries: 77 - (110 - 30) x 0.5 + 150 (the steps, corrected: 192.00)
        (THREE, [20, -17], [14, "-8.5"], 18700),
        # each removal credits the tiers it empties at its own ratio
        (TWO, [12, -6, -3], [12, -4, -1], 20667),  # 85 - 30 x 4/6 - 25 x 1/3 + 150
        # emptied to the top of the first tier, then below it: 85 - 35 x 0.5 - 30 x 1/3 + 150
        # (the step procedure keeps the second tier's share open and bills it at the first tier: 225.00)
        (TWO, [12, -7, -3], [12, "-3.5", -1], 20750),
        # an add worth 0 this period and its remove (an orphan once the add is left out) are skipped
        (TWO, [6, -6, 6], [0, 0, 3], 17750),  # 55 x 0.5 + 150
        # an event of value 0 moves nothing: 50 + 5 x 0.5 + 150
        (TWO, [5, 0, 1], [5, 0, "0.5"], 20250),
        # a negative event first: usage below zero counts in the first tier, like prorated standard
        (TWO, [-2, 5], [-1, 4], 13000),  # -20 x 0.5 + 50 x 0.8 + 100
        # negative amount before flat fees counts as 0
        (TWO, [5, -3], ["0.5", -3], 10000),
        # negative final total prices nothing, not even flat fees
        (TWO, [3, -4], [3, -1], 0),
        # decimal values crossing a classic boundary: 32.5 x 0.7 + (55 - 32.5) x 0.5 + 150
        (TWO, ["3.25", "2.75"], ["2.275", "1.375"], 18400),
        # adjacent tiers: (0.1 x 10 + 0.4 x 5) x 0.5 + 0 + 1
        (ADJACENT, ["0.5"], ["0.25"], 250),
    ],
)
def test_prorated_graduated(properties: Any, full: list[Any], prorated: list[Any], expected_cents: int) -> None:
    assert cents(properties, full, prorated) == expected_cents


@pytest.mark.parametrize(
    ("properties", "full", "prorated", "expected_cents"),
    [
        (TWO, [], [], 10000),  # no usage: the first tier's flat fee
        (THREE, [10, -10], [5, -5], 10000),  # prorated units 0: first flat fee only, not the second
    ],
)
def test_zero_units_price_the_first_flat_fee(properties: Any, full: list[Any], prorated: list[Any],
                                             expected_cents: int) -> None:  # fmt: skip
    result = prorated_graduated(D(0), events(full, prorated), properties)
    assert (to_minor_units(result.amount, "EUR"), result.units) == (expected_cents, D(0))


# ---- from events to the fee ---------------------------------------------------------------------

SUM = AggregationSpec("sum_agg", "value", recurring=True)
MAY = ProrationWindow(start_of_local_day(date(2023, 5, 1), "UTC"), end_of_local_day(date(2023, 5, 31), "UTC"), 31)
JUNE = ProrationWindow(start_of_local_day(date(2023, 6, 1), "UTC"), end_of_local_day(date(2023, 6, 30), "UTC"), 30)


def ev(day: datetime, order: int, value: Any) -> Event:
    return Event(f"tx-{order}", day, {"value": str(value)}, order)


def test_prorated_graduated_from_the_may_example() -> None:
    may26 = datetime(2023, 5, 26, 9, tzinfo=UTC)
    aggregation = prorated_aggregate(SUM, [ev(may26, 1, 12), ev(may26, 2, 12)], MAY, carried=Carried(level=D(5)))
    result = prorated_graduated(aggregation.units, aggregation.values, TWO)
    # 5 x 10 + (60 + 60) x 6/31 + 100 + 50 = 223.2258...
    assert to_minor_units(result.amount, "EUR") == 22323
    assert (result.units, aggregation.full.units) == (D("9.64517"), D(29))


VOLUME = parse_properties(
    "volume", {"volume_ranges": [tier(0, 100, "2", "10"), tier(101, 200, "1"), tier(201, None, "0.5", "50")]}
)


@pytest.mark.parametrize(
    ("carried", "added", "expected_cents"),
    [
        (0, 300, 10000),  # 100 prorated units in the 201+ tier of the 300 full ones: 50 + 50
        (150, 150, 16250),  # 150 + 75 prorated, 300 full: 112.50 + 50
        (50, 50, 16000),  # 50 + 25 prorated, 100 full: 75 x 2 + 10
    ],
)
def test_prorated_volume_picks_the_tier_with_full_units(carried: int, added: int, expected_cents: int) -> None:
    june21 = datetime(2023, 6, 21, tzinfo=UTC)  # 10 of 30 days left
    june16 = datetime(2023, 6, 16, tzinfo=UTC)  # 15 of 30 days left
    when = june21 if carried == 0 else june16
    aggregation = prorated_aggregate(SUM, [ev(when, 1, added)], JUNE, carried=Carried(level=D(carried)))
    inputs = ChargeInputs(aggregation.units, tier_units=aggregation.full.units)
    assert to_minor_units(compute("volume", VOLUME, inputs).amount, "EUR") == expected_cents
    assert volume(aggregation.units, VOLUME, tier_units=aggregation.full.units) == compute("volume", VOLUME, inputs)


# ---- properties ---------------------------------------------------------------------------------

PRICES = st.decimals(min_value=0, max_value=50, places=2)
FULL = st.decimals(min_value="0.01", max_value=80, places=2)
RATIO = st.integers(1, 31).map(lambda days: D(days) / D(31))


@st.composite
def graduated_tiers(draw: st.DrawFn) -> Any:
    gaps = draw(st.lists(st.integers(2, 30), max_size=3))
    bounds = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    adjacent = draw(st.booleans())
    lows = [0] + [b if adjacent else b + 1 for b in bounds]
    highs: list[Any] = [*bounds, None]
    return grad(*(tier(low, high, draw(PRICES), draw(PRICES)) for low, high in zip(lows, highs, strict=True)))


@settings(max_examples=150, deadline=None)
@given(graduated_tiers(), st.lists(FULL, max_size=8))
def test_unprorated_values_price_like_graduated(properties: Any, full: list[Decimal]) -> None:
    values = [ProratedValue(f, f) for f in full]
    total = sum(full, D(0))
    assert prorated_graduated(total, values, properties).amount == graduated(total, properties).amount


@settings(max_examples=150, deadline=None)
@given(PRICES, PRICES, st.lists(st.tuples(FULL, RATIO), min_size=1, max_size=8))
def test_one_open_tier_prices_like_prorated_standard(price: Decimal, flat: Decimal,
                                                     items: list[tuple[Decimal, Decimal]]) -> None:  # fmt: skip
    properties = grad(tier(0, None, str(price), str(flat)))
    values = [ProratedValue(f, f * r) for f, r in items]
    units = sum((v.prorated for v in values), D(0))
    expected = standard(units, parse_properties("standard", {"amount": str(price)})).amount + flat
    amount = prorated_graduated(units, values, properties).amount
    # The ratios are 28-digit approximations here: the reference is settled like the amount.
    assert to_minor_units(amount, "EUR") == to_minor_units(expected.quantize(SETTLED), "EUR")


def test_division_noise_does_not_move_a_half_cent() -> None:
    """7.59 units at 2.50 is 18.975 exactly, though each event's share is a repeating decimal."""
    properties = grad(tier(0, None, "2.50", "0"))
    items = [(D("0.01"), D(1) / D(31)), (D("0.01"), D(5) / D(31)), (D("0.01"), D(1)),
             (D("4.49"), D(17) / D(31)), (D("6.89"), D(23) / D(31)), (D("0.12"), D(1) / D(31))]
    values = [ProratedValue(f, f * r) for f, r in items]
    units = sum((v.prorated for v in values), D(0))
    assert to_minor_units(prorated_graduated(units, values, properties).amount, "EUR") == 1898
