"""Charge models on aggregated units, pure: standard, package, graduated, volume, graduated %, dynamic.

Each function takes the aggregated units (and what else its model needs) with the typed
properties of :mod:`billow.pricing.properties` and returns a :class:`ChargeAmount`: the precise
amount in major units, never rounded here (the fee is rounded once, by the caller, with
``billow.core.money.to_minor_units``). Arithmetic follows lago-semantics.md section 2.
Import these through :mod:`billow.pricing.charge_models`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any, TypeVar

from billow.pricing.properties import (
    GraduatedPercentageProperties,
    GraduatedProperties,
    PackageProperties,
    PercentageTier,
    PriceTier,
    StandardProperties,
    VolumeProperties,
)

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ChargeAmount:
    """What a charge model yields for one fee (amounts in major units, unrounded)."""

    amount: Decimal
    units: Decimal
    amount_details: dict[str, Any] = field(default_factory=dict)

    @property
    def unit_amount(self) -> Decimal:
        """``amount / units``, or 0 without units (informational only, never summed)."""
        return self.amount / self.units if self.units else ZERO


def ceil(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_CEILING)


def standard(units: Decimal, properties: StandardProperties) -> ChargeAmount:
    """``units x amount``."""
    return ChargeAmount(units * properties.amount, units)


def package(units: Decimal, properties: PackageProperties) -> ChargeAmount:
    """``amount`` per started package of ``package_size`` units once ``free_units`` are used."""
    paid = max(units - properties.free_units, ZERO)
    packages = ceil(paid / properties.package_size)
    details = {
        "free_units": min(units, Decimal(properties.free_units)) if units > 0 else ZERO,
        "paid_units": paid,
        "per_package_size": properties.package_size,
        "per_package_unit_amount": properties.amount,
    }
    return ChargeAmount(packages * properties.amount, units, details)


def dynamic(units: Decimal, event_amounts_cents: tuple[Decimal, ...], exponent: int) -> ChargeAmount:
    """Sum of the events' ``precise_total_amount_cents`` in major units (``/ 10**exponent``)."""
    if units == 0:
        return ChargeAmount(ZERO, units)
    return ChargeAmount(sum(event_amounts_cents, ZERO) / (Decimal(10) ** exponent), units)


# ---- tiered models -------------------------------------------------------------------------


def _range_detail(tier: PriceTier | PercentageTier, units: Decimal, price: Decimal, flat: Decimal) -> dict[str, Any]:
    return {
        "from_value": tier.from_value,
        "to_value": tier.to_value,
        "units": units,
        "per_unit_total_amount": price,
        "flat_unit_amount": flat,
        "total_with_flat_amount": price + flat,
    }


_Tier = TypeVar("_Tier", PriceTier, PercentageTier)


def visited_tiers(tiers: tuple[_Tier, ...], units: Decimal) -> tuple[_Tier, ...]:
    """The tiers walked: from the first up to the one whose ``to`` reaches ``units`` (or the open one)."""
    last = next(i for i, tier in enumerate(tiers) if tier.to_value is None or tier.to_value >= units)
    return tiers[: last + 1]


def graduated(
    units: Decimal, properties: GraduatedProperties, *, drop_first_flat_at_zero: bool = False
) -> ChargeAmount:
    """Each visited tier prices its units plus its whole flat fee (the first one even at 0 units).

    Units in a tier: ``min(u, to) - from`` (+1 in classic, inclusive mode; nothing added in
    adjacent mode or when ``from`` is 0). ``drop_first_flat_at_zero`` is the pay-in-advance flag:
    pricing 0 units then gives 0 (the first event pays the first flat fee).
    """
    step = ZERO if properties.adjacent else ONE
    total = ZERO
    ranges = []
    for index, tier in enumerate(visited_tiers(properties.graduated_ranges, units)):
        cap = units if tier.to_value is None else min(units, tier.to_value)
        in_tier = cap if tier.from_value == 0 else cap - tier.from_value + step
        flat = ZERO if index == 0 and units == 0 and drop_first_flat_at_zero else tier.flat_amount
        price = in_tier * tier.per_unit_amount
        total += price + flat
        ranges.append({**_range_detail(tier, in_tier, price, flat), "per_unit_amount": tier.per_unit_amount})
    return ChargeAmount(total, units, {"graduated_ranges": ranges})


def volume(units: Decimal, properties: VolumeProperties, *, tier_units: Decimal | None = None) -> ChargeAmount:
    """All units at the price of the one tier ``n`` falls in, plus that tier's flat fee.

    The tier is the first with ``from <= ceil(n)`` and ``n <= to`` (open: no upper check), so
    100.5 falls in 101-200. ``n`` is ``tier_units`` when given (prorated charges pass the full,
    non-prorated units) and ``units`` otherwise. No tier (negative units) prices 0.
    """
    n = units if tier_units is None else tier_units
    tier = next(
        (t for t in properties.volume_ranges if t.from_value <= ceil(n) and (t.to_value is None or n <= t.to_value)),
        None,
    )
    if tier is None:
        return ChargeAmount(ZERO, units)
    price = units * tier.per_unit_amount
    details = {
        "flat_unit_amount": tier.flat_amount,
        "per_unit_amount": tier.per_unit_amount,
        "per_unit_total_amount": price,
    }
    return ChargeAmount(price + tier.flat_amount, units, details)


def graduated_percentage(
    units: Decimal, properties: GraduatedPercentageProperties, *, drop_first_flat_at_zero: bool = False
) -> ChargeAmount:
    """Graduated tiers (classic bounds) charging ``rate`` percent of their units plus their flat fee.

    Units in a tier: ``to - max(from, 1) + 1`` when the units pass ``to``; else ``u`` in the
    first tier and ``u - from + 1`` in the others.
    """
    total = ZERO
    ranges = []
    for index, tier in enumerate(visited_tiers(properties.graduated_percentage_ranges, units)):
        if tier.to_value is not None and units >= tier.to_value:
            in_tier = tier.to_value - max(tier.from_value, ONE) + 1
        elif tier.from_value == 0:
            in_tier = units
        else:
            in_tier = units - tier.from_value + 1
        flat = ZERO if index == 0 and units == 0 and drop_first_flat_at_zero else tier.flat_amount
        price = in_tier * tier.rate / HUNDRED
        total += price + flat
        ranges.append({**_range_detail(tier, in_tier, price, flat), "rate": tier.rate})
    return ChargeAmount(total, units, {"graduated_percentage_ranges": ranges})
