"""The percentage charge model, pure (lago-semantics.md 2.6). Import through ``charge_models``.

Two paths:

* without per-transaction min/max (or when they do not apply, e.g. not premium): free units
  and free events come from the running totals of the events, and the amount is
  ``paid units x rate % + paid events x fixed_amount``;
* with ``per_transaction_min_amount`` and/or ``per_transaction_max_amount``: every event is
  priced on its own (``value x rate % + fixed``, clamped to [min, max]) after the free
  events/amount are consumed, and the amount is the sum.

``event_values`` are the per-event values of the aggregation in time order (all 1 for a count
metric, so the running totals are 1, 2, ..., u).
"""

from __future__ import annotations

from decimal import Decimal
from itertools import accumulate

from billow.pricing.charge_models_base import HUNDRED, ZERO, ChargeAmount
from billow.pricing.properties import PercentageProperties


def running_totals(event_values: tuple[Decimal, ...], free_events: int, free_amount: Decimal) -> list[Decimal]:
    """Cumulative sums of the first N events, or up to (and including) the first above T."""
    if free_events > 0:
        return list(accumulate(event_values[:free_events]))
    totals: list[Decimal] = []
    if free_amount > 0:
        for total in accumulate(event_values):
            totals.append(total)
            if total > free_amount:
                break
    return totals


def _free_event_count(free_events: int, totals: list[Decimal], free_amount: Decimal) -> int:
    below = sum(1 for total in totals if total < free_amount)
    return min((count for count in (free_events, below) if count > 0), default=0)


def _details(
    properties: PercentageProperties, units: Decimal, free: Decimal, paid: Decimal, paid_events: int,
    per_unit_total: Decimal, fixed_total: Decimal, amount: Decimal,
) -> dict[str, object]:  # fmt: skip
    return {
        "rate": properties.rate,
        "units": units,
        "free_units": free,
        "paid_units": paid,
        "paid_events": paid_events,
        "fixed_fee_unit_amount": properties.fixed_amount or ZERO,
        "per_unit_total_amount": per_unit_total,
        "fixed_fee_total_amount": fixed_total,
        "min_max_adjustment_total_amount": amount - per_unit_total - fixed_total,
    }


def _aggregate(
    units: Decimal, event_values: tuple[Decimal, ...], events_count: int, properties: PercentageProperties
) -> ChargeAmount:
    free_events = properties.free_units_per_events or 0
    free_amount = properties.free_units_per_total_aggregation or ZERO
    totals = running_totals(event_values, free_events, free_amount)
    free = ZERO if not totals else totals[-1] if free_amount == 0 else min(totals[-1], free_amount)
    paid = max(units - free, ZERO)
    per_unit_total = paid * properties.rate / HUNDRED
    free_count = _free_event_count(free_events, totals, free_amount)
    paid_events = max(events_count - free_count, 0) if units != 0 else 0
    fixed_total = paid_events * (properties.fixed_amount or ZERO)
    amount = per_unit_total + fixed_total
    details = _details(properties, units, min(free, units), paid, paid_events, per_unit_total, fixed_total, amount)
    return ChargeAmount(amount, units, details)


def _per_transaction(
    units: Decimal, event_values: tuple[Decimal, ...], properties: PercentageProperties
) -> ChargeAmount:
    events_left = properties.free_units_per_events or 0
    amount_left = properties.free_units_per_total_aggregation or ZERO
    fixed = properties.fixed_amount or ZERO
    low, high = properties.per_transaction_min_amount, properties.per_transaction_max_amount
    amount = per_unit_total = paid = ZERO
    paid_events = 0
    for value in event_values:
        charged = value
        if events_left > 0 or amount_left > 0:
            events_left -= 1
            if amount_left == 0 or value < amount_left:
                amount_left = max(amount_left - value, ZERO)
                continue
            charged = value - amount_left
            events_left, amount_left = 0, ZERO
        price = charged * properties.rate / HUNDRED
        fee = price + fixed
        if low is not None:
            fee = max(fee, low)
        if high is not None:
            fee = min(fee, high)
        amount += fee
        per_unit_total += price
        paid += charged
        paid_events += 1
    details = _details(properties, units, units - paid, paid, paid_events, per_unit_total, paid_events * fixed, amount)
    return ChargeAmount(amount, units, details)


def percentage(
    units: Decimal,
    event_values: tuple[Decimal, ...],
    events_count: int,
    properties: PercentageProperties,
    *,
    per_transaction_limits: bool = True,
) -> ChargeAmount:
    """``rate`` percent of the paid units plus ``fixed_amount`` per paid event (section 2.6).

    ``per_transaction_limits=False`` ignores min/max (Lago applies them only with premium).
    """
    limited = properties.per_transaction_min_amount is not None or properties.per_transaction_max_amount is not None
    if limited and per_transaction_limits:
        return _per_transaction(units, event_values, properties)
    return _aggregate(units, event_values, events_count, properties)
