"""Prorated graduated pricing, pure (lago-semantics.md 2.4 with its correction).

Tiers are chosen by the running **full** total of the events while the amount follows their
**prorated** values. Each event moves the running total from ``before`` to ``after``; the units in
between are priced on the graduated tiers (tier ``k`` holds the units above the previous tier's top
up to its own, so classic ``6-10`` and adjacent ``5-10`` tiers hold the same units) and the event
pays that price times its ``prorated / full`` ratio. A removal credits the tiers it empties, top
first, at its own ratio; usage below zero counts in the first tier.

This is the reference's step-by-step procedure in closed form. Both give the same amounts for any
run of whole, non-negative events and on every worked case of Lago's spec for this model. They part
where the steps slip: a removal falling through two boundaries, a running total that rests on a
tier's top and then falls below it, decimal values landing between classic tiers.

Prorated volume needs nothing here: ``charge_models.volume(prorated_units, properties,
tier_units=full_units)`` picks the tier with the full units and prices the prorated ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from billow.pricing.charge_models_base import (
    ZERO,
    ChargeAmount,
    graduated,
    visited_tiers,
)
from billow.pricing.properties import GraduatedProperties
from billow.pricing.prorated import ProratedValue
from billow.pricing.proration import ARITHMETIC

# Each event's share is a division (prorated / full) that rarely terminates; their sum can land a
# hair below a half cent that the exact sum reaches (18.974999... for 18.975). The amount is
# settled to this many places, far below any currency's unit and far above the division noise,
# before the fee's one rounding to minor units.
SETTLED = Decimal("1e-20")


def _flat_fees(properties: GraduatedProperties, units: Decimal) -> Decimal:
    return sum((tier.flat_amount for tier in visited_tiers(properties.graduated_ranges, units)), ZERO)


def _price_up_to(properties: GraduatedProperties, units: Decimal) -> Decimal:
    """Graduated price of ``units`` without flat fees (negative units at the first tier's price)."""
    return graduated(units, properties).amount - _flat_fees(properties, units)


def _left_out(value: ProratedValue, running: Decimal) -> bool:
    """Events that move nothing: no full value, an add worth nothing this period (removed before
    it), or a removal worth nothing that would take the total below zero (its add was left out)."""
    if value.full == 0:
        return True
    return value.prorated == 0 and (value.full > 0 or running + value.full < 0)


def prorated_graduated(
    units: Decimal, values: Sequence[ProratedValue], properties: GraduatedProperties
) -> ChargeAmount:
    """Prorated graduated amount of ``values`` (full and prorated value per event, in time order).

    ``units`` are the prorated aggregated units: 0 prices the first tier's flat fee alone. The flat
    fee of every tier up to the one holding the peak running total is added; a negative final total
    prices 0, and a negative amount before the flat fees counts as 0.
    """
    if units == 0:
        return ChargeAmount(properties.graduated_ranges[0].flat_amount, units)
    running = peak = amount = ZERO
    price_before = ZERO
    for value in values:
        if _left_out(value, running):
            continue
        running += value.full
        peak = max(peak, running)
        price_after = _price_up_to(properties, running)
        amount += ARITHMETIC.divide(ARITHMETIC.multiply(price_after - price_before, value.prorated), value.full)
        price_before = price_after
    if running < 0:
        return ChargeAmount(ZERO, units)
    settled = ARITHMETIC.quantize(max(amount, ZERO), SETTLED)
    return ChargeAmount(settled + _flat_fees(properties, peak), units)


__all__ = ["prorated_graduated"]
