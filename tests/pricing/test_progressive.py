"""Progressive billing arithmetic: lifetime usage, crossings and their keys, credits, completion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billow.pricing.progressive import (
    Completion,
    Crossing,
    LifetimeUsage,
    Threshold,
    completion_ratios,
    creditable_cents,
    crossings,
)

# Lago's worked example: thresholds 2.00, 5.00, 7.00 EUR and a recurring 10.00 EUR.
EXAMPLE = (Threshold(200, False), Threshold(500, False), Threshold(700, False), Threshold(1000, True))


def usage(current: int, billed: int = 0, invoiced: int = 0, historical: int = 0) -> LifetimeUsage:
    return LifetimeUsage(historical, invoiced, billed, current)


def test_lifetime_usage_counts_what_progressive_invoices_billed_as_invoiced() -> None:
    lifetime = usage(current=660, billed=220, invoiced=1000, historical=50)
    assert (lifetime.invoiced_cents, lifetime.current_cents, lifetime.total_cents) == (1270, 440, 1710)


@pytest.mark.parametrize(("current", "billed", "expected"), [
    (220, 0, (Crossing(Threshold(200, False), 200),)),
    (440, 220, ()),
    (660, 220, (Crossing(Threshold(500, False), 500),)),
    (880, 660, (Crossing(Threshold(700, False), 700),)),
    # invoiced 880 >= 700: the recurring one fires as 2200 + 880 mod 1000 >= 1000; named by 1000
    (3080, 880, (Crossing(Threshold(1000, True), 1000),)),
    # invoiced 3080: 2200 + 80 >= 1000; named by the next multiple above 3080
    (5280, 3080, (Crossing(Threshold(1000, True), 4000),)),
    (3500, 3080, ()),
])
def test_the_worked_example_step_by_step(current: int, billed: int, expected: tuple[Crossing, ...]) -> None:
    assert crossings(EXAMPLE, usage(current, billed)) == expected


def test_several_thresholds_at_once_and_the_recurring_one_beyond_the_largest() -> None:
    found = crossings(EXAMPLE, usage(1800))
    assert [c.crossing_cents for c in found] == [200, 500, 700, 1000]
    assert [c.threshold.recurring for c in found] == [False, False, False, True]


def test_usage_below_what_progressive_invoices_billed_passes_nothing() -> None:
    assert crossings(EXAMPLE, usage(current=100, billed=220)) == ()


def test_a_plan_with_one_recurring_threshold_only() -> None:
    assert crossings((Threshold(300, True),), usage(650, invoiced=100)) == (Crossing(Threshold(300, True), 300),)


def test_two_recurring_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="at most one recurring"):
        crossings((Threshold(100, True), Threshold(200, True)), usage(500))


@pytest.mark.parametrize(("args", "expected"), [((880, 0, 0, 0), 880), ((880, 80, 100, 50), 650), ((100, 0, 200, 0), 0)])
def test_creditable_amount(args: tuple[int, int, int, int], expected: int) -> None:
    assert creditable_cents(*args) == expected


def test_completion_ratios() -> None:
    assert completion_ratios(EXAMPLE, 350) == (
        Completion(200, Decimal(1), True), Completion(500, Decimal("0.5"), False),
        Completion(700, Decimal(0), False), Completion(1700, Decimal(0), False))
    assert completion_ratios(EXAMPLE, 1250) == (
        Completion(200, Decimal(1), True), Completion(500, Decimal(1), True), Completion(700, Decimal(1), True),
        Completion(1700, Decimal("0.55"), False))
    assert completion_ratios((Threshold(400, True),), 500) == (Completion(400, Decimal("0.25"), False),)
    assert completion_ratios((Threshold(400, False),), 100) == (Completion(400, Decimal("0.25"), False),)
