"""Charge models, pure: aggregated units + typed properties -> precise amount (lago-semantics.md 2, 3.2).

* One small function per model: :func:`standard`, :func:`package`, :func:`graduated`,
  :func:`volume`, :func:`percentage`, :func:`graduated_percentage`, :func:`dynamic`.
* :func:`compute` dispatches on the charge model name with a :class:`ChargeInputs` and applies
  Lago's negative protection (negative units or amount -> 0 units and 0 amount).
* :func:`pay_in_advance_fee` prices one event of a pay-in-advance charge as
  ``model(after) - model(before)``, both priced with the flag that drops the first tier's flat
  fee at 0 units, so the fees of a period's events add up to the period total.
* :func:`true_up` is the charge ``min_amount_cents`` true-up (2.10).

Amounts are major-unit ``Decimal`` values, never rounded here: the caller rounds each fee once
with ``billow.core.money.to_minor_units``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from billow.pricing.charge_models_base import (
    ZERO,
    ChargeAmount,
    dynamic,
    graduated,
    graduated_percentage,
    package,
    standard,
    volume,
)
from billow.pricing.charge_models_percentage import percentage, running_totals
from billow.pricing.properties import (
    AnyProperties,
    DynamicProperties,
    GraduatedPercentageProperties,
    GraduatedProperties,
    PackageProperties,
    PercentageProperties,
    StandardProperties,
    VolumeProperties,
)

__all__ = [
    "ChargeAmount",
    "ChargeInputs",
    "compute",
    "dynamic",
    "graduated",
    "graduated_percentage",
    "package",
    "pay_in_advance_fee",
    "percentage",
    "running_totals",
    "standard",
    "true_up",
    "volume",
]


@dataclass(frozen=True)
class ChargeInputs:
    """What a charge model is priced on, for one fee.

    ``event_values`` are the per-event values in time order: the aggregated property for
    percentage (all 1 for a count metric) and ``precise_total_amount_cents`` for dynamic.
    ``exponent`` is the currency exponent dynamic amounts are divided by (2 for cents).
    ``tier_units`` picks the volume tier (full units of a prorated charge; default ``units``).
    ``per_transaction_limits`` is False when percentage min/max must be ignored (not premium).
    """

    units: Decimal
    event_values: tuple[Decimal, ...] = ()
    events_count: int = 0
    exponent: int = 2
    tier_units: Decimal | None = None
    per_transaction_limits: bool = True


def _model_amount(
    charge_model: str, properties: AnyProperties, inputs: ChargeInputs, drop_first_flat_at_zero: bool
) -> ChargeAmount:
    units = inputs.units
    if charge_model == "standard" and isinstance(properties, StandardProperties):
        return standard(units, properties)
    if charge_model == "package" and isinstance(properties, PackageProperties):
        return package(units, properties)
    if charge_model == "graduated" and isinstance(properties, GraduatedProperties):
        return graduated(units, properties, drop_first_flat_at_zero=drop_first_flat_at_zero)
    if charge_model == "volume" and isinstance(properties, VolumeProperties):
        return volume(units, properties, tier_units=inputs.tier_units)
    if charge_model == "percentage" and isinstance(properties, PercentageProperties):
        limits = inputs.per_transaction_limits
        return percentage(units, inputs.event_values, inputs.events_count, properties, per_transaction_limits=limits)
    if charge_model == "graduated_percentage" and isinstance(properties, GraduatedPercentageProperties):
        return graduated_percentage(units, properties, drop_first_flat_at_zero=drop_first_flat_at_zero)
    if charge_model == "dynamic" and isinstance(properties, DynamicProperties):
        return dynamic(units, inputs.event_values, inputs.exponent)
    raise ValueError(f"properties {type(properties).__name__} do not price charge model {charge_model!r}")


def compute(
    charge_model: str, properties: AnyProperties, inputs: ChargeInputs, *, drop_first_flat_at_zero: bool = False
) -> ChargeAmount:
    """Price ``inputs`` with ``charge_model``; negative units or amount give 0 units and 0 amount.

    Raises ``ValueError`` when ``properties`` are not those of ``charge_model``.
    """
    result = _model_amount(charge_model, properties, inputs, drop_first_flat_at_zero)
    if result.units < 0 or result.amount < 0:
        return ChargeAmount(ZERO, ZERO)
    return result


def pay_in_advance_fee(
    charge_model: str, properties: AnyProperties, before_inputs: ChargeInputs, after_inputs: ChargeInputs
) -> ChargeAmount:
    """The fee of one pay-in-advance event: ``amount(after) - amount(before)``, never below 0.

    ``before_inputs`` is the state of the period without the event's rise of the high-water
    mark (``A - delta``), ``after_inputs`` the state with it (``A``). Both are priced with the
    first tier's flat fee dropped at 0 units, so the first event pays it. Units are the rise
    ``after - before``; the details are those of the ``after`` state.
    """
    after = compute(charge_model, properties, after_inputs, drop_first_flat_at_zero=True)
    before = compute(charge_model, properties, before_inputs, drop_first_flat_at_zero=True)
    amount = max(after.amount - before.amount, ZERO)
    units = max(after_inputs.units - before_inputs.units, ZERO)
    return replace(after, amount=amount, units=units)


def true_up(min_amount_cents: int, charges_duration_days: int, window_days: int, fees_amount_cents: int) -> int:
    """Cents of the true-up fee a charge's ``min_amount_cents`` adds, or 0 (section 2.10).

    The minimum is prorated to the charge window: ``min x window_days / charges_duration_days``
    (exact, product first). When the summed (rounded) fees of the charge are below it, the
    difference is rounded half-up to whole cents.
    """
    prorated = Decimal(min_amount_cents) * window_days / Decimal(charges_duration_days)
    if fees_amount_cents >= prorated:
        return 0
    return int((prorated - fees_amount_cents).quantize(Decimal(1), rounding=ROUND_HALF_UP))
