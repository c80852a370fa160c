"""Current usage of a subscription: its open charges window, priced as an invoice would price it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.core.errors import NotAllowed, NotFound, ValidationFailed
from billow.models import BillableMetric, Customer, Organization, Subscription, Tax
from billow.plans import versions
from billow.pricing.taxes import (
    FeeKind,
    TaxRate,
    applied_taxes,
    invoice_tax_cents,
    taxes_for_fee,
)
from billow.subscriptions import periods
from billow.usage import charges, profiles
from billow.usage.reader import MICROSECOND, Window


@dataclass
class Usage:
    subscription: Subscription
    from_datetime: datetime
    to_datetime: datetime
    issuing_date: Any
    currency: str
    charges: list[charges.ChargeUsage]
    amount_cents: int
    taxes_amount_cents: int


def _rates(taxes: list[Tax]) -> tuple[TaxRate, ...]:
    return tuple(TaxRate(tax.code, Decimal(str(tax.rate))) for tax in taxes)


def _organization_taxes(session: Session, organization_id: uuid.UUID) -> tuple[TaxRate, ...]:
    return _rates(list(session.scalars(select(Tax).where(
        Tax.organization_id == organization_id, Tax.applied_to_organization.is_(True)
    ))))


def _taxes_by_code(session: Session, organization_id: uuid.UUID, codes: set[str]) -> dict[str, TaxRate]:
    if not codes:
        return {}
    rows = session.scalars(select(Tax).where(Tax.organization_id == organization_id, Tax.code.in_(codes)))
    return {tax.code: TaxRate(tax.code, Decimal(str(tax.rate))) for tax in rows}


def active_subscription(session: Session, organization: Organization, external_customer_id: str,
                        external_subscription_id: str | None) -> tuple[Customer, Subscription]:
    customer = session.scalar(select(Customer).where(
        Customer.organization_id == organization.id, Customer.external_id == external_customer_id,
        Customer.deleted_at.is_(None)))
    if customer is None:
        raise NotFound("customer")
    if not external_subscription_id:
        raise ValidationFailed.field("external_subscription_id", "value_is_mandatory")
    subscription = session.scalar(select(Subscription).where(
        Subscription.organization_id == organization.id, Subscription.customer_id == customer.id,
        Subscription.external_id == external_subscription_id, Subscription.status == "active"))
    if subscription is None:
        raise NotAllowed("no_active_subscription")
    return customer, subscription


def window_for(subscription: Subscription, customer: Customer, at: datetime) -> tuple[Window, Any]:
    billing = periods.current_window(subscription, subscription.plan, customer, at)
    stop = billing.charges_to_datetime
    if stop == billing.period.to_datetime:  # the period's last second: take every instant before the next one
        stop = stop + timedelta(seconds=1) - MICROSECOND
    window = Window(billing.charges_from_datetime, stop, billing.charges_duration_days, billing.timezone)
    return window, billing


def current_usage(session: Session, organization: Organization, customer: Customer, subscription: Subscription,
                  at: datetime, *, apply_taxes: bool = True) -> Usage:
    plan = subscription.plan
    version = versions.effective_version(session, plan, subscription.plan_version)
    snapshot = versions.version_snapshot(session, plan, version)
    window, billing = window_for(subscription, customer, at)
    metric_ids = {charge.billable_metric_id for charge in snapshot.charges}
    metrics = {m.id: m for m in session.scalars(select(BillableMetric).where(BillableMetric.id.in_(metric_ids)))}
    current = profiles.load(session, organization.id, {m.code for m in metrics.values()})
    currency = snapshot.amount_currency
    usages = []
    for charge in snapshot.charges:
        metric = metrics[charge.billable_metric_id]
        profile = current.get(metric.code)
        if profile is None:  # the metric was deleted after this plan version was written
            continue
        usages.append(charges.charge_usage(session, organization.id, subscription.external_id, charge, metric,
                                           profile, window, currency))
    amount = sum(usage.amount_cents for usage in usages)
    taxes = 0
    if apply_taxes:
        rates_of = charge_fee_taxes(session, organization.id, snapshot, customer)
        lines = [(rates_of(usage.charge), Decimal(usage.amount_cents)) for usage in usages]
        taxes = invoice_tax_cents(applied_taxes(lines))
    return Usage(subscription, window.start, billing.charges_to_datetime, billing.period.billing_day, currency,
                 usages, amount, taxes)


def metric_codes(session: Session, subscription: Subscription) -> set[str]:
    """Codes of the metrics the subscription's plan version charges."""
    plan = subscription.plan
    snapshot = versions.version_snapshot(session, plan, versions.effective_version(session, plan,
                                                                                   subscription.plan_version))
    ids = {charge.billable_metric_id for charge in snapshot.charges}
    return set(session.scalars(select(BillableMetric.code).where(BillableMetric.id.in_(ids)))) if ids else set()


def charge_fee_taxes(session: Session, organization_id: uuid.UUID, snapshot: versions.PlanSnapshot,
                     customer: Customer) -> Callable[[versions.ChargePrice], tuple[TaxRate, ...]]:
    """The taxes of a charge's fees: charge, else plan, else customer, else organization taxes."""
    codes = {code for charge in snapshot.charges for code in charge.tax_codes} | set(snapshot.tax_codes)
    by_code = _taxes_by_code(session, organization_id, codes)
    plan_rates = tuple(by_code[c] for c in snapshot.tax_codes if c in by_code)
    customer_rates, org_rates = _rates(list(customer.taxes)), _organization_taxes(session, organization_id)

    def rates(charge: versions.ChargePrice) -> tuple[TaxRate, ...]:
        return taxes_for_fee(FeeKind.CHARGE, charge=tuple(by_code[c] for c in charge.tax_codes if c in by_code),
                             plan=plan_rates, customer=customer_rates, organization=org_rates)

    return rates
