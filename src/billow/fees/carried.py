"""The units a recurring pay-in-advance charge carries into the next period, billed on the invoice
that closes a period (lago-semantics 3.2).

A pay-in-advance charge bills its events as they come (:mod:`billow.fees.service`). On a
non-recurring metric nothing is left at the period's end. On a recurring one (sum, unique count)
the level reached carries into the next period: the period invoice of an invoiceable charge bills
those carried units at the charge's price, the full units even when the charge is prorated; the
next period's events then bill only their rise above the carried level. Not billed on the invoice
that ends the subscription (nothing is carried past it) nor on a progressive-billing invoice (which
bills in-arrears usage). Nothing here commits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from billow.models import Invoice, Subscription
from billow.pricing.periods import ONE_SECOND
from billow.usage import charges
from billow.usage.charges import ChargeUsage
from billow.usage.reader import Window
from billow.usage.service import pricing_for


def carried_usage(session: Session, invoice: Invoice, subscription: Subscription, usage: ChargeUsage,
                  window: Window, at: datetime) -> ChargeUsage | None:
    """What the invoice closing the charges window ``window`` (priced at ``at``) bills of the
    pay-in-advance charge whose usage over it is ``usage``; ``None``: nothing."""
    charge, metric = usage.charge, usage.metric
    if not metric.recurring or invoice.invoice_type != "subscription":
        return None
    if subscription.terminated_at is not None and subscription.terminated_at <= at + ONE_SECOND:
        return None
    if not charge.prorated:
        return usage  # the level at the window's end: the carried units
    pricing = pricing_for(session, subscription.organization_id, subscription)
    profile = pricing.profiles[metric.code]
    return charges.charge_usage(session, subscription.organization_id, subscription.external_id,
                                replace(charge, prorated=False), metric, profile, window,
                                pricing.snapshot.amount_currency)


__all__ = ["carried_usage"]
