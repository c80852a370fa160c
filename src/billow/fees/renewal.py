"""The fee a recurring pay-in-advance charge that is not invoiceable records when a period renews.

An invoiceable charge bills the units a recurring metric carries into the next period on the
invoice that closes the period (:mod:`billow.fees.carried`). A charge that is not invoiceable has
no such invoice: as Lago (``Fees::CreateRecurringPayInAdvanceService``) it records, when the billing
run closes a charges window of an active subscription, one fee without invoice per filter/group
bucket holding carried units, for the new window: the full units (even when the charge is prorated)
at the charge's price, taxed on its own and announced with ``fee.created`` like a fee of an event
(and, with ``regroup_paid_fees``, gathered once paid). Nothing here commits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from billow.fees.service import record_uninvoiced
from billow.models import Fee, Subscription
from billow.pricing.periods import ONE_SECOND
from billow.usage import charges
from billow.usage.charges import ChargeUsage
from billow.usage.service import pricing_for, window_for


def renew_uninvoiced(session: Session, subscription: Subscription, window_end: datetime, now: datetime) -> list[Fee]:
    """The fees of the units carried past ``window_end`` (the instant after a closed charges window)."""
    if subscription.terminated_at is not None and subscription.terminated_at <= window_end:
        return []
    pricing = pricing_for(session, subscription.organization_id, subscription)
    renewed = [(charge, pricing.metrics[charge.billable_metric_id]) for charge in pricing.snapshot.charges
               if charge.pay_in_advance and not charge.invoiceable]
    renewed = [(charge, metric) for charge, metric in renewed if metric.recurring and metric.code in pricing.profiles]
    if not renewed:
        return []
    customer = subscription.customer
    closed, _ = window_for(subscription, customer, window_end - ONE_SECOND)
    _, next_window = window_for(subscription, customer, window_end)
    fees = []
    for charge, metric in renewed:
        usage = charges.charge_usage(session, subscription.organization_id, subscription.external_id,
                                     replace(charge, prorated=False), metric, pricing.profiles[metric.code], closed,
                                     pricing.snapshot.amount_currency)
        fees.extend(record_uninvoiced(session, subscription, ChargeUsage(charge, metric), bucket, next_window, now)
                    for bucket in usage.buckets if bucket.units > 0)
    return fees


__all__ = ["renew_uninvoiced"]
