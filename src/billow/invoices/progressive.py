"""Progressive billing: an invoice as soon as lifetime usage passes a usage threshold
(lago-payments-wallets-alerts.md 5.3-5.4).

:func:`bill_thresholds` (the ``progressive_billing`` periodic service, and every billing run)
looks at the active subscriptions whose plan has usage thresholds, each in its own transaction
(:func:`check`): with the subscription's lifetime usage (:mod:`billow.invoices.lifetime`) it
finds the thresholds passed (:func:`billow.pricing.progressive.crossings`) and, when any is,
issues ONE ``progressive_billing`` invoice for all of them. Its fees are the usage fees of the
in-arrears invoiceable charges from the charges period's start, priced by
:func:`billow.invoices.builder.charge_fee_rows` at the instant of detection (no min-amount
true-up, no subscription fee); before coupons and taxes it deducts what the previous progressive
invoice of the period billed (:mod:`billow.invoices.progressive_credits`). It is finalized and
numbered at once (no grace period) and announced like every invoice (``invoice.created``), with
one ``subscription.usage_threshold_reached`` webhook per threshold passed.

Exactly once: the subscription row is locked for the check (``FOR NO KEY UPDATE`` on
PostgreSQL; SQLite writers queue), and each threshold passed is an ``applied_usage_thresholds``
row unique on (subscription, recurring, crossing level) (see
:class:`billow.models.AppliedUsageThreshold`): a concurrent run that read the same state fails
on that insert, rolls back its invoice and bills nothing.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billow.core.db import Database
from billow.invoices import billing, builder, lifetime, repository, service
from billow.invoices.applied_thresholds import threshold_json
from billow.invoices.progressive_credits import PROGRESSIVE_BILLING
from billow.models import AppliedUsageThreshold, Fee, Invoice, InvoiceSubscription, Subscription, UsageThreshold
from billow.pricing import progressive
from billow.pricing.periods import local_date
from billow.subscriptions import thresholds as subscription_thresholds
from billow.webhooks import service as webhooks

log = logging.getLogger("billow.billing")


def candidates(session: Session, at: datetime, organization_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """Active subscriptions started by ``at`` that have (or had) usage thresholds of their own or
    of their plan, and progressive billing on: none at all when no threshold exists."""
    stmt = select(Subscription.id).where(
        Subscription.status == "active", Subscription.started_at <= at, subscription_thresholds.may_apply())
    if organization_id is not None:
        stmt = stmt.where(Subscription.organization_id == organization_id)
    return list(session.scalars(stmt.order_by(Subscription.started_at, Subscription.id)))


def thresholds(session: Session, subscription: Subscription) -> tuple[progressive.Threshold, ...]:
    """The usage thresholds applicable to the subscription (:mod:`billow.subscriptions.thresholds`)."""
    return tuple(progressive.Threshold(t.amount_cents, t.recurring)
                 for t in subscription_thresholds.applicable(session, subscription))


def check(session: Session, subscription_id: uuid.UUID, at: datetime) -> billing.Billed | None:
    """Issue the progressive invoice of the subscription if its lifetime usage passed thresholds
    at ``at`` (``None`` otherwise). Never commits."""
    session.execute(select(Subscription.id).where(Subscription.id == subscription_id)
                    .with_for_update(key_share=True))
    subscription = repository.subscription(session, subscription_id)
    if subscription is None or subscription.status != "active":
        return None
    configured = thresholds(session, subscription)
    if not configured:
        return None
    usage = lifetime.lifetime_usage(session, subscription, at)
    crossed = progressive.crossings(configured, usage.usage)
    if not crossed:
        return None
    return _issue(session, subscription, usage, crossed, at)


def _charge_fees(session: Session, invoice: Invoice, subscription: Subscription, at: datetime) -> list[Fee]:
    """The usage fees of the period so far, without min-amount true-ups (nor their empty parents)."""
    fees = [fee for fee in builder.charge_fee_rows(session, invoice, subscription, at)
            if fee.true_up_parent_fee_id is None and (fee.units or fee.amount_cents or fee.events_count)]
    for position, fee in enumerate(fees, start=1):
        fee.position = position
    return fees


def _issue(session: Session, subscription: Subscription, usage: lifetime.Lifetime,
           crossed: tuple[progressive.Crossing, ...], at: datetime) -> billing.Billed:
    customer = subscription.customer
    period = usage.period
    invoice = service.new_invoice(session, customer, period.currency,
                                  local_date(at, customer.applicable_timezone), invoice_type=PROGRESSIVE_BILLING)
    invoice.grace_period_ends_at = None  # finalized at once
    session.add(InvoiceSubscription(
        organization_id=subscription.organization_id, invoice_id=invoice.id, subscription_id=subscription.id,
        invoicing_reason=PROGRESSIVE_BILLING, from_datetime=period.from_datetime, to_datetime=period.to_datetime,
        charges_from_datetime=period.from_datetime, charges_to_datetime=at))
    rows = subscription_thresholds.rows(session, subscription)
    applied = []
    for crossing in crossed:
        threshold = rows.get((crossing.threshold.amount_cents, crossing.threshold.recurring))
        applied.append(AppliedUsageThreshold(
            organization_id=subscription.organization_id, invoice_id=invoice.id, subscription_id=subscription.id,
            usage_threshold_id=threshold.id if threshold is not None else None,
            amount_cents=crossing.threshold.amount_cents,
            threshold_display_name=threshold.threshold_display_name if threshold is not None else None,
            recurring=crossing.threshold.recurring, crossing_amount_cents=crossing.crossing_cents,
            lifetime_usage_amount_cents=usage.usage.total_cents))
    session.add_all(applied)
    session.flush()  # the exactly-once constraint answers here
    fees = _charge_fees(session, invoice, subscription, at)
    session.add_all(fees)
    session.flush()
    builder.apply_totals(invoice, fees, {subscription.id: builder.tax_book(session, subscription, customer)},
                         finalize=True)
    service.close(session, invoice, at)
    service.announce(session, invoice, "invoice.created")
    for row in applied:
        _announce_threshold(session, subscription, row, rows.get((row.amount_cents, row.recurring)))
    return billing.Billed(subscription.external_id, PROGRESSIVE_BILLING, period.from_datetime, at, invoice.id,
                          invoice.status, invoice.total_amount_cents, invoice.currency)


def _announce_threshold(session: Session, subscription: Subscription, applied: AppliedUsageThreshold,
                        threshold: UsageThreshold | None) -> None:
    from billow.subscriptions.service import wire  # the subscriptions domain bills through invoices

    payload = {**wire(session, subscription), "usage_threshold": threshold_json(applied, threshold)}
    webhooks.emit(session, subscription.organization_id, "subscription.usage_threshold_reached", "subscription",
                  payload)


def bill_thresholds(database: Database, at: datetime, organization_id: uuid.UUID | None = None) -> list[billing.Billed]:
    """Check every candidate subscription at ``at``, each in its own transaction; the progressive
    invoices issued. A subscription whose check fails is logged and left for the next run."""
    with database.unit_of_work(write=False) as session:
        subscription_ids = candidates(session, at, organization_id)
    issued = []
    for subscription_id in subscription_ids:
        try:
            with database.unit_of_work() as session:
                billed = check(session, subscription_id, at)
        except IntegrityError:  # a concurrent run invoiced these crossings since we looked
            log.info("usage thresholds of subscription %s already invoiced", subscription_id)
            continue
        except Exception:  # one subscription's failure must not stop the others'
            log.exception("progressive billing of subscription %s failed", subscription_id)
            continue
        if billed is not None:
            issued.append(billed)
    return issued


__all__ = ["bill_thresholds", "candidates", "check", "thresholds"]
