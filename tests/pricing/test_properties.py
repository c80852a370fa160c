"""Charge properties: parsing, Lago's error codes and the wire shape (pure, no database)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.pricing.properties import (
    CHARGE_MODELS,
    GraduatedProperties,
    InvalidProperties,
    PercentageProperties,
    default_properties,
    parse_properties,
)


def tier(low: Any, high: Any, unit: Any = "1", flat: Any = "0") -> dict[str, Any]:
    return {"from_value": low, "to_value": high, "per_unit_amount": unit, "flat_amount": flat}


def pct_tier(low: Any, high: Any, rate: Any = "1", flat: Any = "0") -> dict[str, Any]:
    return {"from_value": low, "to_value": high, "rate": rate, "flat_amount": flat}


VALID: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("standard", {"amount": "0.05"}, {"amount": "0.05"}),
    ("standard", {"amount": "10.500"}, {"amount": "10.500"}),
    ("standard", {"amount": 3}, {"amount": "3"}),
    ("standard", {"amount": 0.1}, {"amount": "0.1"}),
    ("standard", {"amount": "1e3"}, {"amount": "1000"}),
    ("standard", {"amount": "-0"}, {"amount": "0"}),
    ("standard", {"amount": "1", "rate": "5", "package_size": 3}, {"amount": "1"}),  # other keys dropped
    (
        "standard",
        {"amount": "1", "grouped_by": ["region"]},
        {"amount": "1", "pricing_group_keys": ["region"], "grouped_by": ["region"]},
    ),
    (
        "standard",
        {"amount": "1", "pricing_group_keys": ["a", "b"], "grouped_by": ["c"]},
        {"amount": "1", "pricing_group_keys": ["a", "b"], "grouped_by": ["a", "b"]},
    ),
    ("standard", {"amount": "1", "pricing_group_keys": []}, {"amount": "1"}),
    (
        "standard",
        {"amount": "1", "presentation_group_keys": ["region", {"value": "plan", "options": {"display_in_invoice": True}}]},
        {
            "amount": "1",
            "presentation_group_keys": [{"value": "region"}, {"value": "plan", "options": {"display_in_invoice": True}}],
        },
    ),
    (
        "standard",
        {"amount": "1", "presentation_group_keys": [{"value": "region", "options": {}}]},
        {"amount": "1", "presentation_group_keys": [{"value": "region"}]},
    ),
    (
        "package",
        {"amount": "100", "package_size": 10, "free_units": 0},
        {"amount": "100", "package_size": 10, "free_units": 0},
    ),
    ("percentage", {"rate": "1.3"}, {"rate": "1.3"}),
    (
        "percentage",
        {
            "rate": "2.99",
            "fixed_amount": "0.5",
            "free_units_per_events": 3,
            "free_units_per_total_aggregation": "250",
            "per_transaction_min_amount": "1.75",
            "per_transaction_max_amount": "12",
        },
        {
            "rate": "2.99",
            "fixed_amount": "0.5",
            "free_units_per_events": 3,
            "free_units_per_total_aggregation": "250",
            "per_transaction_min_amount": "1.75",
            "per_transaction_max_amount": "12",
        },
    ),
    ("percentage", {"rate": "1", "fixed_amount": None}, {"rate": "1"}),
    ("percentage", {"rate": "1", "per_transaction_min_amount": "2", "per_transaction_max_amount": "2"},
     {"rate": "1", "per_transaction_min_amount": "2", "per_transaction_max_amount": "2"}),
    (
        "graduated",
        {"graduated_ranges": [tier(0, 10, "10", "2"), tier(11, 20, "5", "3"), tier(21, None, "5", "3")]},
        {"graduated_ranges": [tier(0, 10, "10", "2"), tier(11, 20, "5", "3"), tier(21, None, "5", "3")]},
    ),
    (
        "graduated",
        {"graduated_ranges": [tier(0, "0.1", "10"), tier(0.1, 1, "5"), tier(1, None, "2")]},
        {"graduated_ranges": [tier(0, 0.1, "10"), tier(0.1, 1, "5"), tier(1, None, "2")]},
    ),
    ("graduated", {"graduated_ranges": [tier(0, None, 1, 0)]}, {"graduated_ranges": [tier(0, None, "1", "0")]}),
    (
        "volume",
        {"volume_ranges": [tier(0, 100, "2", "10"), tier(101, 200, "1"), tier(201, None, "0.5", "50")]},
        {"volume_ranges": [tier(0, 100, "2", "10"), tier(101, 200, "1"), tier(201, None, "0.5", "50")]},
    ),
    ("volume", {"volume_ranges": [tier(0, 100), tier(100, None)]}, {"volume_ranges": [tier(0, 100), tier(100, None)]}),
    (
        "graduated_percentage",
        {"graduated_percentage_ranges": [pct_tier(0, 100, "5"), pct_tier(101, None, "2", "10")]},
        {"graduated_percentage_ranges": [pct_tier(0, 100, "5"), pct_tier(101, None, "2", "10")]},
    ),
    ("dynamic", {"amount": "4"}, {}),
    ("dynamic", {"pricing_group_keys": ["model"]}, {"pricing_group_keys": ["model"], "grouped_by": ["model"]}),
]


@pytest.mark.parametrize(("charge_model", "data", "wire"), VALID)
def test_valid_properties_and_their_wire_shape(charge_model: str, data: dict[str, Any], wire: dict[str, Any]) -> None:
    parsed = parse_properties(charge_model, data)
    assert parsed.charge_model == charge_model
    assert parsed.to_wire() == wire
    # What is stored parses back to the same value.
    assert parse_properties(charge_model, parsed.to_wire()) == parsed


INVALID: list[tuple[str, Any, list[str]]] = [
    ("standard", {}, ["invalid_amount"]),
    ("standard", {"amount": None}, ["invalid_amount"]),
    ("standard", {"amount": "-1"}, ["invalid_amount"]),
    ("standard", {"amount": "abc"}, ["invalid_amount"]),
    ("standard", {"amount": ""}, ["invalid_amount"]),
    ("standard", {"amount": "NaN"}, ["invalid_amount"]),
    ("standard", {"amount": "Infinity"}, ["invalid_amount"]),
    ("standard", {"amount": True}, ["invalid_amount"]),
    ("standard", {"amount": ["1"]}, ["invalid_amount"]),
    ("standard", "1", ["value_is_invalid"]),
    ("standard", [{"amount": "1"}], ["value_is_invalid"]),
    ("standard", {"amount": "1", "pricing_group_keys": "region"}, ["invalid_type"]),
    ("standard", {"amount": "1", "pricing_group_keys": ["region", ""]}, ["invalid_type"]),
    ("standard", {"amount": "1", "grouped_by": [1]}, ["invalid_type"]),
    ("standard", {"amount": "1", "presentation_group_keys": "region"}, ["invalid_presentation_group_keys"]),
    ("standard", {"amount": "1", "presentation_group_keys": ["a", "b", "c"]}, ["invalid_presentation_group_keys"]),
    ("standard", {"amount": "1", "presentation_group_keys": [{"options": {}}]}, ["invalid_presentation_group_keys"]),
    ("standard", {"amount": "1", "presentation_group_keys": [{"value": ""}]}, ["invalid_presentation_group_keys"]),
    ("standard", {"amount": "1", "presentation_group_keys": [{"value": "a", "options": "x"}]},
     ["invalid_presentation_group_keys"]),
    ("standard", {"amount": "1", "presentation_group_keys": [{"value": "a", "options": {"display_in_invoice": "y"}}]},
     ["invalid_presentation_group_keys"]),
    ("standard", {"amount": "-1", "pricing_group_keys": 5}, ["invalid_type", "invalid_amount"]),
    ("package", {"amount": "1", "package_size": 10}, ["invalid_free_units"]),
    ("package", {"amount": "1", "package_size": 0, "free_units": 0}, ["invalid_package_size"]),
    ("package", {"amount": "1", "package_size": 1.5, "free_units": 0}, ["invalid_package_size"]),
    ("package", {"amount": "1", "package_size": "10", "free_units": 0}, ["invalid_package_size"]),
    ("package", {"amount": "1", "package_size": True, "free_units": 0}, ["invalid_package_size"]),
    ("package", {"amount": "1", "package_size": 1, "free_units": -1}, ["invalid_free_units"]),
    ("package", {}, ["invalid_amount", "invalid_package_size", "invalid_free_units"]),
    ("percentage", {}, ["invalid_rate"]),
    ("percentage", {"rate": "-0.1"}, ["invalid_rate"]),
    ("percentage", {"rate": "1", "fixed_amount": "x"}, ["invalid_fixed_amount"]),
    ("percentage", {"rate": "1", "free_units_per_events": 0}, ["invalid_free_units_per_events"]),
    ("percentage", {"rate": "1", "free_units_per_events": "2"}, ["invalid_free_units_per_events"]),
    ("percentage", {"rate": "1", "free_units_per_total_aggregation": "-5"},
     ["invalid_free_units_per_total_aggregation"]),
    ("percentage", {"rate": "1", "per_transaction_min_amount": "x"}, ["invalid_amount"]),
    ("percentage", {"rate": "1", "per_transaction_max_amount": "-1"}, ["invalid_amount"]),
    ("percentage", {"rate": "1", "per_transaction_min_amount": "5", "per_transaction_max_amount": "4.99"},
     ["per_transaction_max_lower_than_per_transaction_min"]),
    ("graduated", {}, ["missing_graduated_ranges"]),
    ("graduated", {"graduated_ranges": []}, ["missing_graduated_ranges"]),
    ("graduated", {"graduated_ranges": "x"}, ["invalid_graduated_ranges"]),
    ("graduated", {"graduated_ranges": ["x"]}, ["invalid_graduated_ranges"]),
    ("graduated", {"graduated_ranges": [tier(1, None)]}, ["invalid_graduated_ranges"]),  # must start at 0
    ("graduated", {"graduated_ranges": [tier(0, 10)]}, ["invalid_graduated_ranges"]),  # last must be open
    ("graduated", {"graduated_ranges": [tier(0, None), tier(1, None)]}, ["invalid_graduated_ranges"]),
    ("graduated", {"graduated_ranges": [tier(0, 10), tier(12, None)]}, ["invalid_graduated_ranges"]),  # gap
    ("graduated", {"graduated_ranges": [tier(0, 10), tier(9, None)]}, ["invalid_graduated_ranges"]),  # overlap
    ("graduated", {"graduated_ranges": [tier(0, 0), tier(1, None)]}, ["invalid_graduated_ranges"]),  # to <= from
    ("graduated", {"graduated_ranges": [tier(0, 10), tier(11, 20), tier(20, None)]},
     ["invalid_graduated_ranges"]),  # classic then adjacent
    ("graduated", {"graduated_ranges": [tier("x", None)]}, ["invalid_graduated_ranges"]),
    ("graduated", {"graduated_ranges": [tier(-1, None)]}, ["invalid_graduated_ranges"]),
    ("graduated", {"graduated_ranges": [{"to_value": None, "per_unit_amount": "1", "flat_amount": "0"}]},
     ["invalid_graduated_ranges"]),
    ("graduated", {"graduated_ranges": [tier(0, None, "-1")]}, ["invalid_amount"]),
    ("graduated", {"graduated_ranges": [tier(0, None, "1", None)]}, ["invalid_amount"]),
    ("graduated", {"graduated_ranges": [{"from_value": 0, "to_value": None}]}, ["invalid_amount"]),
    ("volume", {}, ["missing_volume_ranges"]),
    ("volume", {"volume_ranges": [tier(0, 100), tier(102, None)]}, ["invalid_volume_ranges"]),
    ("volume", {"volume_ranges": [tier(0, None, "x")]}, ["invalid_amount"]),
    ("graduated_percentage", {}, ["missing_graduated_percentage_ranges"]),
    ("graduated_percentage", {"graduated_percentage_ranges": [pct_tier(0, 10), pct_tier(10, None)]},
     ["invalid_graduated_percentage_ranges"]),  # classic bounds only
    ("graduated_percentage", {"graduated_percentage_ranges": [pct_tier(0, None, "x")]}, ["invalid_rate"]),
    ("graduated_percentage", {"graduated_percentage_ranges": [pct_tier(0, None, "1", "-2")]}, ["invalid_amount"]),
    ("dynamic", {"pricing_group_keys": {"a": 1}}, ["invalid_type"]),
]


@pytest.mark.parametrize(("charge_model", "data", "codes"), INVALID)
def test_invalid_properties_report_lago_codes(charge_model: str, data: Any, codes: list[str]) -> None:
    with pytest.raises(InvalidProperties) as caught:
        parse_properties(charge_model, data)
    assert caught.value.codes == codes
    assert str(caught.value) == ", ".join(codes)


@pytest.mark.parametrize(
    ("charge_model", "wire"),
    [
        ("standard", {"amount": "0"}),
        ("package", {"amount": "0", "package_size": 1, "free_units": 0}),
        ("percentage", {"rate": "0"}),
        ("graduated", {"graduated_ranges": [tier(0, None, "0", "0")]}),
        ("volume", {"volume_ranges": [tier(0, None, "0", "0")]}),
        ("graduated_percentage", {"graduated_percentage_ranges": [pct_tier(0, None, "0", "0")]}),
        ("dynamic", {}),
    ],
)
def test_defaults_per_model(charge_model: str, wire: dict[str, Any]) -> None:
    assert default_properties(charge_model).to_wire() == wire


def test_every_charge_model_has_defaults() -> None:
    assert set(CHARGE_MODELS) == {
        "standard", "package", "percentage", "graduated", "volume", "graduated_percentage", "dynamic"
    }  # fmt: skip
    for charge_model in CHARGE_MODELS:
        assert default_properties(charge_model).charge_model == charge_model


def test_unknown_charge_model() -> None:
    with pytest.raises(ValueError, match="unknown charge model"):
        parse_properties("custom", {})
    with pytest.raises(ValueError, match="unknown charge model"):
        default_properties("custom")


def test_typed_values_for_the_pricing_engine() -> None:
    graduated = parse_properties("graduated", {"graduated_ranges": [tier(0, "0.1", "10"), tier("0.1", None, "5")]})
    assert isinstance(graduated, GraduatedProperties)
    assert graduated.adjacent
    assert graduated.graduated_ranges[0].to_value == Decimal("0.1")
    assert graduated.graduated_ranges[1].per_unit_amount == Decimal("5")
    classic = parse_properties("graduated", {"graduated_ranges": [tier(0, 10), tier(11, None)]})
    assert isinstance(classic, GraduatedProperties) and not classic.adjacent
    single = parse_properties("volume", {"volume_ranges": [tier(0, None)]})
    assert not single.adjacent  # type: ignore[union-attr]
    pct = parse_properties("percentage", {"rate": "1.5", "free_units_per_events": 2})
    assert isinstance(pct, PercentageProperties)
    assert (pct.rate, pct.free_units_per_events, pct.fixed_amount) == (Decimal("1.5"), 2, None)
    assert parse_properties("standard", {"amount": "1", "grouped_by": ["a"]}).pricing_group_keys == ("a",)


def test_models_are_immutable() -> None:
    parsed = parse_properties("standard", {"amount": "1"})
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        parsed.amount = Decimal(2)  # type: ignore[misc]


# ---- invariants -------------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=10**9, allow_nan=False, allow_infinity=False, places=6)
amount_inputs = st.one_of(amounts.map(str), st.integers(min_value=0, max_value=10**6))


@st.composite
def ranges(draw: st.DrawFn, *, adjacent: bool, price_key: str = "per_unit_amount") -> list[dict[str, Any]]:
    widths = draw(st.lists(st.integers(min_value=1, max_value=1000), max_size=5))
    bounds: list[dict[str, Any]] = []
    low = 0
    for width in widths:
        high = low + width
        bounds.append({"from_value": low, "to_value": high})
        low = high if adjacent else high + 1
    bounds.append({"from_value": low, "to_value": None})
    return [{**bound, price_key: draw(amount_inputs), "flat_amount": draw(amount_inputs)} for bound in bounds]


properties_inputs = st.one_of(
    st.tuples(st.just("standard"), st.fixed_dictionaries({"amount": amount_inputs})),
    st.tuples(
        st.just("package"),
        st.fixed_dictionaries(
            {
                "amount": amount_inputs,
                "package_size": st.integers(min_value=1, max_value=10**6),
                "free_units": st.integers(min_value=0, max_value=10**6),
            }
        ),
    ),
    st.tuples(
        st.just("percentage"),
        st.fixed_dictionaries(
            {"rate": amount_inputs},
            optional={"fixed_amount": amount_inputs, "free_units_per_events": st.integers(1, 100)},
        ),
    ),
    st.tuples(st.just("graduated"), st.builds(lambda r: {"graduated_ranges": r}, st.booleans().flatmap(
        lambda adjacent: ranges(adjacent=adjacent)))),
    st.tuples(st.just("volume"), st.builds(lambda r: {"volume_ranges": r}, ranges(adjacent=False))),
    st.tuples(
        st.just("graduated_percentage"),
        st.builds(lambda r: {"graduated_percentage_ranges": r}, ranges(adjacent=False, price_key="rate")),
    ),
)


@given(properties_inputs, st.lists(st.text(min_size=1, max_size=5), max_size=3))
def test_stored_json_reads_back_identical(case: tuple[str, dict[str, Any]], keys: list[str]) -> None:
    charge_model, data = case
    parsed = parse_properties(charge_model, {**data, "pricing_group_keys": keys})
    wire = parsed.to_wire()
    assert parse_properties(charge_model, wire) == parsed
    assert parse_properties(charge_model, wire).to_wire() == wire
    # Amounts always travel as strings, never as floats.
    flat = [value for key, value in wire.items() if key in ("amount", "rate", "fixed_amount")]
    assert all(isinstance(value, str) for value in flat)


@given(st.decimals(allow_nan=False, allow_infinity=False, max_value=Decimal("-0.000000001")))
def test_negative_amounts_always_refused(amount: Decimal) -> None:
    with pytest.raises(InvalidProperties):
        parse_properties("standard", {"amount": str(amount)})
