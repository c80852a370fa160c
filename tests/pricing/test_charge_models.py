"""Charge models (billow.pricing.charge_models): every worked number of lago-semantics.md 2 and 3.2.

Amounts are asserted exactly as unrounded major-unit Decimals and, where the reference gives
cents, after the caller's single rounding with ``to_minor_units``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billow.core.money import to_minor_units
from billow.pricing.charge_models import (
    ChargeAmount,
    ChargeInputs,
    compute,
    graduated,
    package,
    pay_in_advance_fee,
    percentage,
    running_totals,
    standard,
    true_up,
    volume,
)
from billow.pricing.properties import parse_properties

D = Decimal


def tier(low: Any, high: Any, unit: Any = "0", flat: Any = "0") -> dict[str, Any]:
    return {"from_value": low, "to_value": high, "per_unit_amount": unit, "flat_amount": flat}


def pct_tier(low: Any, high: Any, rate: Any, flat: Any = "0") -> dict[str, Any]:
    return {"from_value": low, "to_value": high, "rate": rate, "flat_amount": flat}


def props(model: str, **data: Any) -> Any:
    return parse_properties(model, data)


def values(*numbers: Any) -> tuple[Decimal, ...]:
    return tuple(D(str(n)) for n in numbers)


def run(model: str, properties: Any, units: Any, events: tuple[Decimal, ...] = (), count: int | None = None,
        **extra: Any) -> ChargeAmount:  # fmt: skip
    inputs = ChargeInputs(D(str(units)), events, len(events) if count is None else count, **extra)
    return compute(model, properties, inputs)


CLASSIC = props(
    "graduated", graduated_ranges=[tier(0, 10, "10", "2"), tier(11, 20, "5", "3"), tier(21, None, "5", "3")]
)
ADJACENT = props("graduated", graduated_ranges=[tier(0, "0.1", "10"), tier("0.1", 1, "5"), tier(1, None, "2")])
VOLUME = props("volume", volume_ranges=[tier(0, 100, "2", "10"), tier(101, 200, "1"), tier(201, None, "0.5", "50")])
GRAD_PCT = props(
    "graduated_percentage", graduated_percentage_ranges=[pct_tier(0, 100, "5"), pct_tier(101, None, "2", "10")]
)
PACKAGE = {"amount": "100", "package_size": 10}

# (model, properties, units, events, events count, amount in major units)
SECTION_2: list[tuple[str, Any, Any, tuple[Decimal, ...], int, str]] = [
    # 2.1 standard
    ("standard", props("standard", amount="5.12345"), 10, (), 0, "51.2345"),
    ("standard", props("standard", amount="5"), 0, (), 0, "0"),
    # 2.2 package (size 10, price 100)
    ("package", props("package", **PACKAGE, free_units=0), 121, (), 0, "1300"),
    ("package", props("package", **PACKAGE, free_units=10), 121, (), 0, "1200"),
    ("package", props("package", **PACKAGE, free_units=200), 121, (), 0, "0"),
    ("package", props("package", **PACKAGE, free_units=0), 3, (), 3, "100"),
    ("package", props("package", **PACKAGE, free_units=0), 0, (), 0, "0"),
    ("package", props("package", **PACKAGE, free_units=10), 10, (), 0, "0"),
    ("package", props("package", **PACKAGE, free_units=0), 10, (), 0, "100"),
    ("package", props("package", **PACKAGE, free_units=0), "10.5", (), 0, "200"),
    # 2.3 graduated, classic
    ("graduated", CLASSIC, 0, (), 0, "2"),
    ("graduated", CLASSIC, 1, (), 0, "12"),
    ("graduated", CLASSIC, 10, (), 0, "102"),
    ("graduated", CLASSIC, 11, (), 0, "110"),
    ("graduated", CLASSIC, 12, (), 0, "115"),
    ("graduated", CLASSIC, 21, (), 0, "163"),
    ("graduated", CLASSIC, 20, (), 0, "155"),
    ("graduated", CLASSIC, "10.5", (), 0, "107.5"),
    # 2.3 graduated, adjacent
    ("graduated", ADJACENT, "0.05", (), 0, "0.5"),
    ("graduated", ADJACENT, "0.5", (), 0, "3.0"),
    ("graduated", ADJACENT, "0.1", (), 0, "1.0"),
    ("graduated", ADJACENT, 3, (), 0, "9.5"),
    # 2.5 volume
    ("volume", VOLUME, 0, (), 0, "10"),
    ("volume", VOLUME, 1, (), 0, "12"),
    ("volume", VOLUME, 100, (), 0, "210"),
    ("volume", VOLUME, "100.5", (), 0, "100.5"),
    ("volume", VOLUME, 101, (), 0, "101"),
    ("volume", VOLUME, 200, (), 0, "200"),
    ("volume", VOLUME, 300, (), 0, "200"),
    # 2.6 percentage without min/max: u=800, R=[50,150,400]
    ("percentage", props("percentage", rate="1.3", fixed_amount="2", free_units_per_events=3,
                         free_units_per_total_aggregation="250"), 800, values(50, 100, 250, 400), 4, "11.15"),
    ("percentage", props("percentage", rate="1.3", fixed_amount="2"), 800, values(50, 100, 250, 400), 4, "18.4"),
    ("percentage", props("percentage", rate="1.3", fixed_amount="2", free_units_per_events=3), 800,
     values(50, 100, 250, 400), 4, "7.2"),
    ("percentage", props("percentage", rate="1", fixed_amount="5", free_units_per_total_aggregation="15"), 16,
     values(4, 4, 4, 4), 4, "5.01"),
    ("percentage", props("percentage", rate="1", fixed_amount="5", free_units_per_total_aggregation="15"), 26,
     values(4, 4, 4, 4, 10), 5, "10.11"),
    ("percentage", props("percentage", rate="1", fixed_amount="5"), 0, (), 0, "0"),
    ("percentage", props("percentage", rate="1", fixed_amount="5", free_units_per_total_aggregation="500"), 16,
     values(4, 4, 4, 4), 4, "0"),
    ("percentage", props("percentage", rate="1", free_units_per_total_aggregation="3"), 16,
     values(4, 4, 4, 4), 4, "0.13"),
    ("percentage", props("percentage", rate="1", fixed_amount="5", free_units_per_events=2), 3,
     values(1, 1, 1), 3, "5.01"),
    # 2.6 percentage with min/max: values 10, 80, 10000; rate 2.99; min 1.75; max 12
    ("percentage", props("percentage", rate="2.99", per_transaction_min_amount="1.75", per_transaction_max_amount="12"),
     10090, values(10, 80, 10000), 3, "16.142"),
    ("percentage", props("percentage", rate="2.99", fixed_amount="2", per_transaction_min_amount="1.75",
                         per_transaction_max_amount="12"), 10090, values(10, 80, 10000), 3, "18.691"),
    ("percentage", props("percentage", rate="2.99", free_units_per_events=2, per_transaction_min_amount="1.75",
                         per_transaction_max_amount="12"), 10090, values(10, 80, 10000), 3, "12"),
    ("percentage", props("percentage", rate="2.99", free_units_per_total_aggregation="30",
                         per_transaction_min_amount="1.75", per_transaction_max_amount="12"),
     10090, values(10, 80, 10000), 3, "13.794"),
    ("percentage", props("percentage", rate="2.99", free_units_per_events=3, free_units_per_total_aggregation="10000",
                         per_transaction_min_amount="1.75", per_transaction_max_amount="12"),
     10090, values(10, 80, 10000), 3, "2.691"),
    ("percentage", props("percentage", rate="2.99", per_transaction_min_amount="1.75"), 10090,
     values(10, 80, 10000), 3, "303.142"),
    ("percentage", props("percentage", rate="2.99", per_transaction_max_amount="12"), 10090,
     values(10, 80, 10000), 3, "14.691"),
    # 2.7 graduated_percentage
    ("graduated_percentage", GRAD_PCT, 50, (), 0, "2.5"),
    ("graduated_percentage", GRAD_PCT, 150, (), 0, "16"),
    ("graduated_percentage", GRAD_PCT, 100, (), 0, "5"),
    ("graduated_percentage", GRAD_PCT, 0, (), 0, "0"),
    # 2.8 dynamic (precise_total_amount_cents of the events / 100)
    ("dynamic", props("dynamic"), 10, values("10.1"), 1, "0.101"),
    ("dynamic", props("dynamic"), 20, values("10.1", "901.9"), 2, "9.12"),
    ("dynamic", props("dynamic"), 0, values("5"), 1, "0"),
]


@pytest.mark.parametrize(("model", "properties", "units", "events", "count", "amount"), SECTION_2)
def test_section_2_worked_numbers(model: str, properties: Any, units: Any, events: tuple[Decimal, ...], count: int,
                                  amount: str) -> None:  # fmt: skip
    result = run(model, properties, units, events, count)
    assert result.amount == D(amount)
    assert result.units == D(str(units))


@pytest.mark.parametrize(
    ("model", "properties", "units", "events", "cents"),
    [
        ("standard", props("standard", amount="5.12345"), 10, (), 5123),
        ("dynamic", props("dynamic"), 10, values("10.1"), 10),
        ("dynamic", props("dynamic"), 20, values("10.1", "901.9"), 912),
        ("percentage", props("percentage", rate="2.99", per_transaction_min_amount="1.75",
                             per_transaction_max_amount="12"), 10090, values(10, 80, 10000), 1614),
    ],
)
def test_fee_cents_after_the_callers_single_rounding(model: str, properties: Any, units: int,
                                                     events: tuple[Decimal, ...], cents: int) -> None:  # fmt: skip
    assert to_minor_units(run(model, properties, units, events).amount, "EUR") == cents


def test_volume_prorated_picks_the_tier_with_full_units() -> None:
    result = run("volume", VOLUME, "198.6", tier_units=D(300))
    assert result.amount == D("149.3")
    assert result.amount_details == {
        "flat_unit_amount": D(50), "per_unit_amount": D("0.5"), "per_unit_total_amount": D("99.3"),
    }  # fmt: skip


def test_volume_adjacent_tiers() -> None:
    tiers = props("volume", volume_ranges=[tier(0, "0.1", "10"), tier("0.1", 1, "5", "1"), tier(1, None, "2")])
    assert [run("volume", tiers, u).amount for u in ("0.1", "0.5", "1", "1.5")] == [D("1.0"), D("3.5"), D(6), D("3.0")]


def test_graduated_amount_details() -> None:
    result = run("graduated", CLASSIC, 12)
    assert result.amount_details == {
        "graduated_ranges": [
            {"from_value": D(0), "to_value": D(10), "units": D(10), "per_unit_amount": D(10),
             "per_unit_total_amount": D(100), "flat_unit_amount": D(2), "total_with_flat_amount": D(102)},
            {"from_value": D(11), "to_value": D(20), "units": D(2), "per_unit_amount": D(5),
             "per_unit_total_amount": D(10), "flat_unit_amount": D(3), "total_with_flat_amount": D(13)},
        ]
    }  # fmt: skip
    assert result.unit_amount == D(115) / D(12)


def test_graduated_percentage_amount_details() -> None:
    ranges = run("graduated_percentage", GRAD_PCT, 150).amount_details["graduated_percentage_ranges"]
    assert [(r["units"], r["rate"], r["total_with_flat_amount"]) for r in ranges] == [(100, 5, 5), (50, 2, 11)]


def test_package_amount_details() -> None:
    result = run("package", props("package", **PACKAGE, free_units=10), 121)
    assert result.amount_details == {
        "free_units": D(10), "paid_units": D(111), "per_package_size": 10, "per_package_unit_amount": D(100),
    }  # fmt: skip
    assert run("package", props("package", **PACKAGE, free_units=10), 0).amount_details["free_units"] == 0


def test_percentage_amount_details_without_min_max() -> None:
    properties = props("percentage", rate="1.3", fixed_amount="2", free_units_per_events=3,
                       free_units_per_total_aggregation="250")  # fmt: skip
    details = run("percentage", properties, 800, values(50, 100, 250, 400)).amount_details
    assert details == {
        "rate": D("1.3"), "units": D(800), "free_units": D(250), "paid_units": D(550), "paid_events": 2,
        "fixed_fee_unit_amount": D(2), "per_unit_total_amount": D("7.15"), "fixed_fee_total_amount": D(4),
        "min_max_adjustment_total_amount": D(0),
    }  # fmt: skip


def test_percentage_amount_details_with_min_max() -> None:
    properties = props("percentage", rate="2.99", free_units_per_total_aggregation="30",
                       per_transaction_min_amount="1.75", per_transaction_max_amount="12")  # fmt: skip
    details = run("percentage", properties, 10090, values(10, 80, 10000)).amount_details
    assert details["free_units"] == 30 and details["paid_units"] == 10060 and details["paid_events"] == 2
    assert details["per_unit_total_amount"] == D("300.794")
    assert details["min_max_adjustment_total_amount"] == D("13.794") - D("300.794")


def test_percentage_min_max_ignored_without_premium() -> None:
    properties = props("percentage", rate="2.99", per_transaction_min_amount="1.75", per_transaction_max_amount="12")
    assert run("percentage", properties, 10090, values(10, 80, 10000), per_transaction_limits=False).amount == D(
        "301.691"
    )


def test_percentage_count_metric_running_totals() -> None:
    # Count metric: every event is worth 1, so R = 1, 2, ..., and 2 free events leave 1 paid unit.
    properties = props("percentage", rate="10", fixed_amount="1", free_units_per_events=2)
    assert percentage(D(3), values(1, 1, 1), 3, properties).amount == D("1.1")


@pytest.mark.parametrize(
    ("events", "free_events", "free_amount", "expected"),
    [
        (values(50, 100, 250, 400), 3, "250", values(50, 150, 400)),
        (values(4, 4, 4, 4, 10), 0, "15", values(4, 8, 12, 16)),
        (values(4, 4), 0, "15", values(4, 8)),
        (values(4, 4), 0, "0", ()),
        ((), 2, "0", ()),
    ],
)
def test_running_totals(events: tuple[Decimal, ...], free_events: int, free_amount: str,
                        expected: tuple[Decimal, ...]) -> None:  # fmt: skip
    assert running_totals(events, free_events, D(free_amount)) == list(expected)


def test_negative_protection() -> None:
    assert run("standard", props("standard", amount="2"), -3) == ChargeAmount(D(0), D(0))
    assert run("volume", VOLUME, -3) == ChargeAmount(D(0), D(0))
    assert run("dynamic", props("dynamic"), 5, values(-300)) == ChargeAmount(D(0), D(0))
    assert ChargeAmount(D(0), D(0)).unit_amount == 0


def test_compute_rejects_properties_of_another_model() -> None:
    with pytest.raises(ValueError, match="charge model 'volume'"):
        run("volume", CLASSIC, 3)


# ---- pay in advance (3.2) -----------------------------------------------------------------------

STANDARD_1 = props("standard", amount="1")
GRAD_ADVANCE = props("graduated", graduated_ranges=[tier(0, 5, "0.02", "0.01"), tier(6, None, "0.01", "0.01")])
PACKAGE_ADVANCE = props("package", amount="1", package_size=2, free_units=3)  # fees in cents: 100 = 1.00
COUNT_GRADUATED = props("graduated", graduated_ranges=[tier(0, 2), tier(3, None, "2")])
PCT_ADVANCE = props("percentage", rate="1", fixed_amount="5", free_units_per_total_aggregation="15")


def advance_fees(model: str, properties: Any, states: list[tuple[Any, Any]], event_values: list[Any] | None = None,
                 ) -> list[int]:  # fmt: skip
    """Fees in cents for (before, after) unit pairs, events (if any) accumulating in order."""
    fees = []
    for index, (before, after) in enumerate(states):
        seen = values(*(event_values or [])[:index])
        now = values(*(event_values or [])[: index + 1])
        before_inputs = ChargeInputs(D(str(before)), seen, len(seen))
        after_inputs = ChargeInputs(D(str(after)), now if event_values else seen, len(now) if event_values else 0)
        fee = pay_in_advance_fee(model, properties, before_inputs, after_inputs)
        fees.append(to_minor_units(fee.amount, "EUR"))
    return fees


@pytest.mark.parametrize(
    ("model", "properties", "states", "event_values", "cents"),
    [
        # sum/standard @1: +10, -4 (no rise of the peak: before = after), +8 (peak 10 -> 14)
        ("standard", STANDARD_1, [(0, 10), (10, 10), (10, 14)], None, [1000, 0, 400]),
        ("graduated", GRAD_ADVANCE, [(0, 3), (3, 4), (4, 6)], None, [7, 2, 4]),
        ("package", PACKAGE_ADVANCE, [(0, 3), (3, 4), (4, 6)], None, [0, 100, 100]),
        ("graduated", COUNT_GRADUATED, [(0, 1), (1, 2), (2, 3)], None, [0, 0, 200]),
        # percentage, T=15: the event crossing the free amount pays its fixed fee
        ("percentage", PCT_ADVANCE, [(0, 4), (4, 8), (8, 12), (12, 16), (16, 26)], [4, 4, 4, 4, 10],
         [0, 0, 0, 501, 510]),
        ("dynamic", props("dynamic"), [(0, 10), (10, 20)], ["10.1", "901.9"], [10, 902]),
    ],
)
def test_pay_in_advance_worked_sequences(model: str, properties: Any, states: list[tuple[Any, Any]],
                                         event_values: list[Any] | None, cents: list[int]) -> None:  # fmt: skip
    assert advance_fees(model, properties, states, event_values) == cents


def test_pay_in_advance_first_event_pays_the_first_flat_fee() -> None:
    fee = pay_in_advance_fee("graduated", GRAD_ADVANCE, ChargeInputs(D(0)), ChargeInputs(D(3)))
    assert fee.amount == D("0.07") and fee.units == 3
    assert fee.amount_details["graduated_ranges"][0]["flat_unit_amount"] == D("0.01")
    pct = props("graduated_percentage", graduated_percentage_ranges=[pct_tier(0, None, "10", "1")])
    assert pay_in_advance_fee("graduated_percentage", pct, ChargeInputs(D(0)), ChargeInputs(D(10))).amount == D(2)
    assert pay_in_advance_fee("graduated_percentage", pct, ChargeInputs(D(0)), ChargeInputs(D(0))).amount == 0


def test_pay_in_advance_never_refunds() -> None:
    fee = pay_in_advance_fee("standard", STANDARD_1, ChargeInputs(D(10)), ChargeInputs(D(6)))
    assert fee == ChargeAmount(D(0), D(0))


# ---- charge minimum true-up (2.10) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("minimum", "duration", "window", "fees", "expected"),
    [
        (5000, 31, 31, 3000, 2000),  # one event at 30.00 against a 50.00 minimum
        (5000, 30, 30, 5000, 0),
        (5000, 30, 30, 6000, 0),
        (5000, 30, 15, 1000, 1500),  # prorated minimum 2500
        (5000, 30, 10, 1666, 1),  # 1666.67 - 1666 = 0.67 -> 1
        (5000, 30, 10, 1667, 0),
        (1000, 31, 10, 0, 323),  # 322.58 -> 323
        (100, 30, 15, 0, 50),
        (0, 30, 30, 0, 0),
    ],
)
def test_true_up(minimum: int, duration: int, window: int, fees: int, expected: int) -> None:
    assert true_up(minimum, duration, window, fees) == expected


# ---- properties ----------------------------------------------------------------------------------

UNITS = st.decimals(min_value=0, max_value=10_000, places=2)
PRICES = st.decimals(min_value=0, max_value=100, places=3)


@st.composite
def classic_graduated(draw: st.DrawFn) -> Any:
    gaps = draw(st.lists(st.integers(2, 150), max_size=4))
    bounds = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    lows = [0] + [b + 1 for b in bounds]
    highs: list[Any] = [*bounds, None]
    tiers = [tier(low, high, draw(PRICES), draw(PRICES)) for low, high in zip(lows, highs, strict=True)]
    return props("graduated", graduated_ranges=tiers)


@st.composite
def volume_tiers(draw: st.DrawFn) -> Any:
    return props("volume", volume_ranges=draw(classic_graduated()).to_wire()["graduated_ranges"])


@settings(max_examples=200)
@given(classic_graduated(), UNITS, UNITS)
def test_graduated_is_non_negative_and_monotone(properties: Any, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert D(0) <= graduated(low, properties).amount <= graduated(high, properties).amount


@settings(max_examples=200)
@given(volume_tiers(), UNITS)
def test_volume_is_non_negative(properties: Any, units: Decimal) -> None:
    assert volume(units, properties).amount >= 0


@st.composite
def volume_with_rising_prices(draw: st.DrawFn) -> Any:
    """Volume tiers whose per-unit and flat prices never fall from one tier to the next."""
    wire = draw(classic_graduated()).to_wire()["graduated_ranges"]
    prices = sorted(draw(st.lists(PRICES, min_size=len(wire), max_size=len(wire))))
    flats = sorted(draw(st.lists(PRICES, min_size=len(wire), max_size=len(wire))))
    for row, price, flat in zip(wire, prices, flats, strict=True):
        row["per_unit_amount"], row["flat_amount"] = str(price), str(flat)
    return props("volume", volume_ranges=wire)


@settings(max_examples=200)
@given(volume_tiers(), UNITS, UNITS)
def test_volume_is_monotone_inside_a_tier(properties: Any, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    tiers = properties.volume_ranges
    same_tier = any(t.from_value <= low and (t.to_value is None or high <= t.to_value) for t in tiers)
    if same_tier:
        assert volume(low, properties).amount <= volume(high, properties).amount


@settings(max_examples=200)
@given(volume_with_rising_prices(), UNITS, UNITS)
def test_volume_with_rising_prices_is_monotone(properties: Any, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert D(0) <= volume(low, properties).amount <= volume(high, properties).amount


def test_volume_can_fall_when_a_cheaper_tier_is_reached() -> None:
    # That is what volume pricing means: every unit takes the price of the tier the total reaches.
    properties = props("volume", volume_ranges=[tier(0, 100, "1"), tier(101, None, "0.5")])
    assert (volume(D(100), properties).amount, volume(D(101), properties).amount) == (D(100), D("50.5"))


@given(PRICES, UNITS, UNITS)
def test_standard_is_linear(price: Decimal, a: Decimal, b: Decimal) -> None:
    properties = props("standard", amount=str(price))
    assert standard(a + b, properties).amount == standard(a, properties).amount + standard(b, properties).amount


@given(PRICES, st.integers(1, 50), st.integers(0, 50), UNITS)
def test_package_is_a_multiple_of_the_package_price(price: Decimal, size: int, free: int, units: Decimal) -> None:
    properties = props("package", amount=str(price), package_size=size, free_units=free)
    amount = package(units, properties).amount
    paid = max(units - free, D(0))
    assert amount == (paid / size).to_integral_value(rounding="ROUND_CEILING") * price


def _advance_total(model: str, properties: Any, events: list[Decimal]) -> tuple[Decimal, Decimal]:
    total = D(0)
    for index in range(len(events)):
        before, after = tuple(events[:index]), tuple(events[: index + 1])
        fee = pay_in_advance_fee(
            model, properties, ChargeInputs(sum(before, D(0)), before, len(before)),
            ChargeInputs(sum(after, D(0)), after, len(after)),
        )  # fmt: skip
        total += fee.amount
    everything = tuple(events)
    return total, compute(model, properties, ChargeInputs(sum(everything, D(0)), everything, len(everything))).amount


EVENTS = st.lists(st.decimals(min_value="0.01", max_value=300, places=2), min_size=1, max_size=12)


@st.composite
def advance_charges(draw: st.DrawFn) -> tuple[str, Any]:
    model = draw(st.sampled_from(["standard", "package", "graduated", "percentage"]))
    if model == "standard":
        return model, props("standard", amount=str(draw(PRICES)))
    if model == "package":
        return model, props("package", amount=str(draw(PRICES)), package_size=draw(st.integers(1, 20)),
                            free_units=draw(st.integers(0, 50)))  # fmt: skip
    if model == "graduated":
        return model, draw(classic_graduated())
    return model, props(
        "percentage", rate=str(draw(PRICES)), fixed_amount=str(draw(PRICES)),
        free_units_per_events=draw(st.none() | st.integers(1, 5)),
        free_units_per_total_aggregation=draw(st.none() | st.decimals(min_value=0, max_value=500, places=2)),
    )  # fmt: skip


@settings(max_examples=300)
@given(advance_charges(), EVENTS)
def test_pay_in_advance_fees_add_up_to_the_period_total(charge: tuple[str, Any], events: list[Decimal]) -> None:
    model, properties = charge
    fees, total = _advance_total(model, properties, events)
    assert fees == total
