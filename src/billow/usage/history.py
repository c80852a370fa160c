"""Past and projected usage: the same computation as current usage, for other windows.

* Past usage prices each earlier charges window of the subscription, newest first, from the
  aggregates (so it equals what current usage showed at the end of that window).
* Projected usage extrapolates the open window linearly: units / elapsed fraction of the window,
  rounded half-up to 2 decimals, then priced by the same charge model. The fraction counts whole
  local days, the current one included.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from billow.core.money import exponent, to_minor_units
from billow.models import Customer, Subscription
from billow.pricing.charge_models import ChargeInputs, compute
from billow.pricing.periods import days_inclusive, local_date
from billow.subscriptions import periods
from billow.usage.charges import PER_EVENT_MODELS, BucketUsage, ChargeUsage
from billow.usage.service import Usage, current_usage

CENT = Decimal("0.01")


def past_usage(session: Session, organization_id: uuid.UUID, customer: Customer, subscription: Subscription,
               at: datetime, *, periods_count: int | None = None) -> list[Usage]:
    """Usage of the windows before the one containing ``at``, newest first."""
    plan = subscription.plan
    cycle = periods.cycle_for(subscription, plan, customer).charges_cycle(bool(plan.bill_charges_monthly))
    started = subscription.started_at or subscription.subscription_at
    period = cycle.previous_period(cycle.period_containing(max(at, started)))
    result: list[Usage] = []
    while period.to_datetime >= started and (periods_count is None or len(result) < periods_count):
        result.append(current_usage(session, organization_id, customer, subscription, period.to_datetime))
        period = cycle.previous_period(period)
    return result


@dataclass(frozen=True)
class Projection:
    usage: Usage
    fraction: Decimal
    buckets: dict[int, list[tuple[Decimal, int]]]  # per charge index: (projected units, cents) per bucket

    @property
    def projected_amount_cents(self) -> int:
        return sum(cents for buckets in self.buckets.values() for _, cents in buckets)


def _project(charge: ChargeUsage, bucket: BucketUsage, fraction: Decimal, currency: str) -> tuple[Decimal, int]:
    units = (bucket.units / fraction).quantize(CENT, rounding=ROUND_HALF_UP)
    if charge.charge.charge_model in PER_EVENT_MODELS:  # priced per event: scale the amount
        return units, to_minor_units(bucket.precise_amount / fraction, currency)
    index = bucket.filter_index
    properties = charge.charge.properties if index is None else charge.charge.filters[index].properties
    amount = compute(charge.charge.charge_model, properties,
                     ChargeInputs(units, (), bucket.events_count, exponent(currency)))
    return units, to_minor_units(amount.amount, currency)


def projected_usage(session: Session, organization_id: uuid.UUID, customer: Customer, subscription: Subscription,
                    at: datetime, *, apply_taxes: bool = True) -> Projection:
    usage = current_usage(session, organization_id, customer, subscription, at, apply_taxes=apply_taxes)
    timezone = customer.applicable_timezone
    first, last = local_date(usage.from_datetime, timezone), local_date(usage.to_datetime, timezone)
    elapsed = days_inclusive(first, min(local_date(at, timezone), last))
    fraction = Decimal(max(elapsed, 1)) / Decimal(days_inclusive(first, last))
    buckets = {
        index: [_project(charge, bucket, fraction, usage.currency) for bucket in charge.buckets]
        for index, charge in enumerate(usage.charges)
    }
    return Projection(usage, fraction, buckets)
