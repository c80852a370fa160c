"""Current usage of a subscription: its open charges window, priced as an invoice would price it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Load, Session, joinedload, lazyload, object_session

from billow.core.errors import NotAllowed, NotFound, ValidationFailed
from billow.models import BillableMetric, Customer, Subscription, Tax
from billow.models.customer import customer_taxes
from billow.plans import versions
from billow.pricing.taxes import (
    FeeKind,
    TaxRate,
    applied_taxes,
    invoice_tax_cents,
    taxes_for_fee,
)
from billow.subscriptions import periods
from billow.usage import charges, profiles, reader, rebuild
from billow.usage.profiles import Profile
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


# A customer's tax rates, read without loading its taxes (usage reads load the customer bare).
_CUSTOMER_TAXES = (select(Tax.code, Tax.rate).join(customer_taxes, customer_taxes.c.tax_id == Tax.id)
                   .where(customer_taxes.c.customer_id == bindparam("customer_id")).order_by(Tax.code))


def _customer_rates(customer: Customer) -> tuple[TaxRate, ...]:
    """The customer's taxes as rates: the loaded ones, else read through the session's connection."""
    session = object_session(customer)
    if "taxes" in customer.__dict__ or session is None:
        return _rates(list(customer.taxes))
    known = session.info.get(_RATES, {}).get(customer.id)
    if known is not None:
        return known
    rows = session.connection().execute(_CUSTOMER_TAXES, {"customer_id": customer.id})
    return tuple(TaxRate(code, Decimal(str(rate))) for code, rate in rows)


def _organization_taxes(session: Session, organization_id: uuid.UUID) -> tuple[TaxRate, ...]:
    return _rates(list(session.scalars(select(Tax).where(
        Tax.organization_id == organization_id, Tax.applied_to_organization.is_(True)
    ))))


def _taxes_by_code(session: Session, organization_id: uuid.UUID, codes: set[str]) -> dict[str, TaxRate]:
    if not codes:
        return {}
    rows = session.scalars(select(Tax).where(Tax.organization_id == organization_id, Tax.code.in_(codes)))
    return {tax.code: TaxRate(tax.code, Decimal(str(tax.rate))) for tax in rows}


# Statements of every usage read, built once (building one costs about as much as running it).
_CUSTOMER = (select(Customer).options(lazyload("*"), joinedload(Customer.organization)).where(
    Customer.organization_id == bindparam("organization_id"), Customer.external_id == bindparam("external_id"),
    Customer.deleted_at.is_(None)))
_SUBSCRIPTION = (select(Subscription).options(joinedload(Subscription.plan).lazyload("*")).where(
    Subscription.organization_id == bindparam("organization_id"), Subscription.customer_id == bindparam("customer_id"),
    Subscription.external_id == bindparam("external_id"), Subscription.status == "active"))
# The usual case in one round trip: the active subscription with its plan, its customer with the
# organization (whose catalog revision pricing checks), and the customer's taxes, one row each
# (a row with NULL taxes when it has none).
_SUBSCRIPTION_OF_CUSTOMER = (
    select(Subscription, Customer, Tax.code, Tax.rate)
    .join(Customer, Customer.id == Subscription.customer_id)
    .outerjoin(customer_taxes, customer_taxes.c.customer_id == Customer.id)
    .outerjoin(Tax, Tax.id == customer_taxes.c.tax_id)
    .options(Load(Subscription).lazyload("*"), Load(Customer).lazyload("*"),
             joinedload(Subscription.plan).lazyload("*"), joinedload(Customer.organization).lazyload("*"))
    .where(Customer.organization_id == bindparam("organization_id"),
           Customer.external_id == bindparam("external_customer_id"), Customer.deleted_at.is_(None),
           Subscription.organization_id == bindparam("organization_id"),
           Subscription.external_id == bindparam("external_id"), Subscription.status == "active")
    .order_by(Tax.code))
_RATES = "billow.usage.customer_rates"


def active_subscription(session: Session, organization_id: uuid.UUID, external_customer_id: str,
                        external_subscription_id: str | None) -> tuple[Customer, Subscription]:
    # Nothing loaded eagerly beyond the rows themselves (and the subscription's plan): usage reads
    # take the plan's pricing from its version snapshot (:func:`pricing_for`).
    if external_subscription_id:
        rows = session.execute(_SUBSCRIPTION_OF_CUSTOMER, {
            "organization_id": organization_id, "external_customer_id": external_customer_id,
            "external_id": external_subscription_id}).all()
        if rows:
            subscription, customer = rows[0][0], rows[0][1]
            # What later reads of this transaction would query again: the revision, the taxes.
            session.info.setdefault("catalog_revisions", {}).setdefault(
                organization_id, customer.organization.catalog_revision)
            session.info.setdefault(_RATES, {})[customer.id] = tuple(
                TaxRate(code, Decimal(str(rate))) for _s, _c, code, rate in rows if code is not None)
            return customer, subscription
    customer = session.scalar(_CUSTOMER, {"organization_id": organization_id, "external_id": external_customer_id})
    if customer is None:
        raise NotFound("customer")
    if not external_subscription_id:
        raise ValidationFailed.field("external_subscription_id", "value_is_mandatory")
    subscription = session.scalar(_SUBSCRIPTION, {"organization_id": organization_id, "customer_id": customer.id,
                                                  "external_id": external_subscription_id})
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


@dataclass(frozen=True)
class Pricing:
    """What a subscription's plan version prices usage with, derived from the catalog alone."""

    snapshot: versions.PlanSnapshot
    metrics: dict[uuid.UUID, BillableMetric]
    profiles: dict[str, Profile]
    taxes_by_code: dict[str, TaxRate]
    organization_taxes: tuple[TaxRate, ...]


# (database, organization, plan, pinned version) -> (catalog revision, pricing). Reused while the
# organization's catalog revision stands; every catalog change raises it (billow.models.catalog).
_PRICING: dict[tuple[str, uuid.UUID, uuid.UUID, int], tuple[int, Pricing]] = {}


_IN_SESSION = "billow.usage.pricing"


def pricing_for(session: Session, organization_id: uuid.UUID, subscription: Subscription) -> Pricing:
    revision = rebuild.catalog_revision(session, organization_id)
    # Within a transaction the revision is read once: what it priced with is kept in the session too.
    in_session: dict[tuple[uuid.UUID, uuid.UUID, int, int], Pricing] = session.info.setdefault(_IN_SESSION, {})
    if revision is not None:
        found = in_session.get((organization_id, subscription.plan_id, subscription.plan_version, revision))
        if found is not None:
            return found
    key = (str(session.get_bind().engine.url), organization_id, subscription.plan_id, subscription.plan_version)
    known = _PRICING.get(key)
    if known is not None and known[0] == revision:
        in_session[(organization_id, subscription.plan_id, subscription.plan_version, known[0])] = known[1]
        return known[1]
    plan = subscription.plan
    snapshot = versions.with_display_names(session, versions.version_snapshot(
        session, plan, versions.effective_version(session, plan, subscription.plan_version)))
    metric_ids = {charge.billable_metric_id for charge in snapshot.charges}
    metrics = {m.id: m for m in session.scalars(select(BillableMetric).where(BillableMetric.id.in_(metric_ids)))}
    codes = {code for charge in snapshot.charges for code in charge.tax_codes} | set(snapshot.tax_codes)
    pricing = Pricing(snapshot, metrics, profiles.load(session, organization_id, {m.code for m in metrics.values()}),
                      _taxes_by_code(session, organization_id, codes), _organization_taxes(session, organization_id))
    if revision is not None:
        _PRICING[key] = (revision, pricing)
        in_session[(organization_id, subscription.plan_id, subscription.plan_version, revision)] = pricing
    return pricing


def current_usage(session: Session, organization_id: uuid.UUID, customer: Customer, subscription: Subscription,
                  at: datetime, *, apply_taxes: bool = True, in_advance_peaks: bool = False) -> Usage:
    """``in_advance_peaks``: pay-in-advance charges at the period's high-water mark, as the
    current usage endpoint shows them (:func:`billow.usage.charges.at_peaks`); an invoice bills
    levels."""
    pricing = pricing_for(session, organization_id, subscription)
    snapshot = pricing.snapshot
    window, billing = window_for(subscription, customer, at)
    currency = snapshot.amount_currency
    usages = []
    # The stored partials of every charge's metric in one read, unless a caller read them ahead.
    prefetching = len(snapshot.charges) > 1 and reader.PREFETCHED not in session.info
    if prefetching:
        codes = {pricing.metrics[charge.billable_metric_id].code for charge in snapshot.charges}
        reader.prefetch(session, organization_id, [subscription.external_id], sorted(codes & set(pricing.profiles)),
                        window)
    try:
        for charge in snapshot.charges:
            metric = pricing.metrics[charge.billable_metric_id]
            profile = pricing.profiles.get(metric.code)
            if profile is None:  # the metric was deleted after this plan version was written
                continue
            usage = charges.charge_usage(session, organization_id, subscription.external_id, charge, metric,
                                         profile, window, currency)
            if in_advance_peaks and charge.pay_in_advance:
                usage = charges.at_peaks(session, organization_id, subscription.external_id, usage, profile,
                                         window, currency)
            usages.append(usage)
    finally:
        if prefetching:
            reader.forget(session)
    amount = sum(usage.amount_cents for usage in usages)
    taxes = 0
    if apply_taxes:
        rates_of = charge_fee_taxes(pricing, customer)
        lines = [(rates_of(usage.charge), Decimal(usage.amount_cents)) for usage in usages]
        taxes = invoice_tax_cents(applied_taxes(lines))
    return Usage(subscription, window.start, billing.charges_to_datetime, billing.period.billing_day, currency,
                 usages, amount, taxes)


def charge_fee_taxes(pricing: Pricing, customer: Customer) -> Callable[[versions.ChargePrice], tuple[TaxRate, ...]]:
    """The taxes of a charge's fees: charge, else plan, else customer, else organization taxes."""
    by_code = pricing.taxes_by_code
    plan_rates = tuple(by_code[c] for c in pricing.snapshot.tax_codes if c in by_code)
    customer_rates = _customer_rates(customer)

    def rates(charge: versions.ChargePrice) -> tuple[TaxRate, ...]:
        return taxes_for_fee(FeeKind.CHARGE, charge=tuple(by_code[c] for c in charge.tax_codes if c in by_code),
                             plan=plan_rates, customer=customer_rates, organization=pricing.organization_taxes)

    return rates
