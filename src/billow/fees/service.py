"""Pay-in-advance charges: the fee of one event, priced when the event is read after ingestion.

The fee of an event is the charge's amount over the current charges window with the event minus
without it, the window bounded at the event (events of the same instant count in ingestion order):
:func:`billow.pricing.charge_models.pay_in_advance_fee`, rounded once to the currency's minor unit.
For sums and unique counts (whose level can fall) both sides are lifted to the period's
high-water mark before the event, so an event is billed only for how much it raises the mark
(lago-semantics 3.2: +10, -4, +8 bill 10, 0 and 4 units). On a recurring metric the mark starts at
the level carried into the period, which the invoice closing the previous period billed
(:mod:`billow.fees.carried`): 3 seats carried, then +4, -1, +2 bill 4, 0 and 1. A prorated charge
(standard only) bills the rise of the full units for the days left in the period, ``ceil(5)``
(lago-semantics 1.4).
:func:`price_event` is that rule for a stored event and for the one ``POST /events/estimate_fees``
prices without storing it, so an estimate equals the fee created for the same event.

:func:`create_for_event` writes the fees of a stored event: one per pay-in-advance charge of the
event's metric on the subscription that carried the event's external id at its timestamp. An
invoiceable charge's fee gets its own invoice (invoicing reason ``in_advance_charge``), issued as
any invoice (draft during the grace period, else finalized); a charge that is not invoiceable only
records the fee (:func:`record_uninvoiced`, taxed on its own) and announces it with
``fee.created``. A fee is unique per charge and event (a database constraint). Nothing here
commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from billow.core.money import exponent, to_minor_units
from billow.fees.schemas import fee_json
from billow.invoices import builder
from billow.invoices import service as invoices
from billow.models import BillableMetric, Fee, Invoice, InvoiceSubscription, Subscription
from billow.models import Event as EventRow
from billow.plans.versions import ChargePrice
from billow.pricing.aggregation import Event, high_water_mark
from billow.pricing.charge_models import ChargeAmount, ChargeInputs, pay_in_advance_fee
from billow.pricing.filters import BucketKey
from billow.pricing.periods import BillingWindow, local_date
from billow.pricing.prorated import ProrationWindow, advance_prorated_units
from billow.pricing.taxes import fee_tax
from billow.subscriptions.repository import resolve
from billow.usage import charges, service
from billow.usage import repository as usage_repository
from billow.usage.charges import BucketUsage, ChargeUsage
from billow.usage.reader import MICROSECOND, Window
from billow.webhooks import service as webhooks

IN_ADVANCE_CHARGE = invoices.IN_ADVANCE_CHARGE


@dataclass(frozen=True)
class EventFee:
    """What one event costs on one pay-in-advance charge."""

    charge: ChargePrice
    key: BucketKey  # the charge filter (None: default) and group the event falls in
    amount: ChargeAmount  # units = the event's rise, amount = the fee before rounding
    amount_cents: int
    total_aggregated_units: Decimal  # the bucket's aggregation with the event
    window: BillingWindow  # the charges window holding the event


def _inputs(measured: charges.Measured | None, currency: str) -> ChargeInputs:
    if measured is None:
        return ChargeInputs(Decimal(0), (), 0, exponent(currency))
    return ChargeInputs(measured.aggregation.units, measured.values, measured.aggregation.events_count,
                        exponent(currency))


def in_advance_charges(session: Session, subscription: Subscription, metric: BillableMetric) -> list[ChargePrice]:
    snapshot = service.pricing_for(session, subscription.organization_id, subscription).snapshot
    return [charge for charge in snapshot.charges if charge.pay_in_advance and charge.billable_metric_id == metric.id]


def price_event(session: Session, subscription: Subscription, metric: BillableMetric, event: Event, *,
                precise_total_amount_cents: Decimal | None = None) -> list[EventFee]:
    """The fee of ``event`` on each pay-in-advance charge of ``metric``. A stored event counts the
    events of its instant ingested before it; a hypothetical one (``order`` past every stored id)
    counts every stored event of its instant."""
    organization_id = subscription.organization_id
    pricing = service.pricing_for(session, organization_id, subscription)
    currency = pricing.snapshot.amount_currency
    profile = pricing.profiles[metric.code]
    full, billing = service.window_for(subscription, subscription.customer, event.timestamp)
    # Everything strictly before the event's instant; that instant's earlier events come as extras.
    before = Window(full.start, max(event.timestamp, full.start) - MICROSECOND, full.charges_duration_days,
                    full.timezone)
    same_instant = [other for other in usage_repository.raw_events(
                        session, organization_id, subscription.external_id, metric.code, event.timestamp,
                        event.timestamp + MICROSECOND)
                    if other.order < event.order]
    fees = []
    for charge in in_advance_charges(session, subscription, metric):
        key = charges.bucket_of_event(charge, profile, event)
        # A prorated charge prices the rise of the full (unprorated) units, then prorates it.
        plain = replace(charge, prorated=False)
        args = (session, organization_id, subscription.external_id, plain, metric, profile, before)
        without = _inputs(charges.aggregations(*args, extra=same_instant).get(key), currency)
        with_event = charges.aggregations(*args, extra=[*same_instant, event],
                                          extra_amount=precise_total_amount_cents)[key]
        after = _inputs(with_event, currency)
        if metric.aggregation_type in charges.FALLING:
            # Billed only for the rise of the period's high-water mark: refilling is free. A
            # recurring metric's mark starts at the level carried into the period (billed on the
            # invoice that opened it), so only a rise above the carried units is billed.
            since = before.start if metric.recurring else None
            prior = [other for other in [*usage_repository.raw_events(
                                             session, organization_id, subscription.external_id, metric.code,
                                             None if metric.recurring else before.start, before.stop + MICROSECOND),
                                         *same_instant]
                     if charges.bucket_of_event(charge, profile, other) == key]
            mark = high_water_mark(metric.aggregation_type, metric.field_name, prior, since)
            without = replace(without, units=max(mark, without.units))
            after = replace(after, units=max(mark, after.units))
        if charge.prorated:  # standard only: the rise for the days left, ceil(5) (lago-semantics 1.4)
            rise = advance_prorated_units(max(after.units - without.units, Decimal(0)), event.timestamp,
                                          ProrationWindow.of(billing))
            without, after = replace(without, units=Decimal(0)), replace(after, units=rise)
        amount = pay_in_advance_fee(charge.charge_model, charges.properties_of(charge, key), without, after)
        fees.append(EventFee(charge, key, amount, to_minor_units(amount.amount, currency),
                             with_event.aggregation.units, billing))
    return fees


def _metric(session: Session, organization_id: uuid.UUID, code: str) -> BillableMetric | None:
    return session.scalar(select(BillableMetric).where(
        BillableMetric.organization_id == organization_id, BillableMetric.code == code,
        BillableMetric.deleted_at.is_(None)))


def _exists(session: Session, charge_id: uuid.UUID, event_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Fee.charge_id == charge_id,
                                                     Fee.pay_in_advance_event_id == event_id))))


def create_for_event(session: Session, row: EventRow, now: datetime) -> list[Fee]:
    """The fees (and invoices) of one stored event; none twice for the same charge and event."""
    subscription = resolve(session, row.organization_id, row.external_subscription_id, row.timestamp)
    metric = _metric(session, row.organization_id, row.code) if subscription is not None else None
    if subscription is None or metric is None or not in_advance_charges(session, subscription, metric):
        return []
    event = Event(row.transaction_id, row.timestamp, row.properties or {}, row.id)
    created = []
    for priced in price_event(session, subscription, metric, event):
        if _exists(session, priced.charge.id, row.id):
            continue
        created.append(_record(session, subscription, metric, row, priced, now))
    return created


def _record(session: Session, subscription: Subscription, metric: BillableMetric, row: EventRow,
            priced: EventFee, now: datetime) -> Fee:
    customer, charge = subscription.customer, priced.charge
    bucket = BucketUsage(priced.key[0], charges.group_of_key(charge, priced.key), priced.amount.units,
                         priced.total_aggregated_units, 1, priced.amount.amount, priced.amount_cents)
    window = priced.window
    if not charge.invoiceable:
        return record_uninvoiced(session, subscription, ChargeUsage(charge, metric), bucket, window, now, row)
    currency = service.pricing_for(session, subscription.organization_id, subscription).snapshot.amount_currency
    invoice = invoices.new_invoice(session, customer, currency, local_date(now, customer.applicable_timezone))
    session.add(InvoiceSubscription(
        organization_id=subscription.organization_id, invoice_id=invoice.id, subscription_id=subscription.id,
        invoicing_reason=IN_ADVANCE_CHARGE, from_datetime=window.from_datetime, to_datetime=window.to_datetime,
        charges_from_datetime=window.charges_from_datetime, charges_to_datetime=window.charges_to_datetime,
        pay_in_advance_event_id=row.id))
    fee = _fee(invoice, subscription, ChargeUsage(charge, metric), bucket, window, currency, row)
    session.add(fee)
    session.flush()  # the one-fee-per-charge-and-event constraint answers here
    invoices.issue(session, invoice, now)
    return fee


def _fee(invoice: Invoice | None, subscription: Subscription, usage: ChargeUsage, bucket: BucketUsage,
         window: BillingWindow, currency: str, row: EventRow | None) -> Fee:
    fee = builder.bucket_fee(invoice, subscription, usage, bucket, currency, Decimal(10) ** exponent(currency),
                             window.charges_from_datetime, window.charges_to_datetime)
    fee.position, fee.pay_in_advance, fee.invoiceable = 1, True, usage.charge.invoiceable
    if row is not None:
        fee.pay_in_advance_event_id, fee.event_transaction_id = row.id, row.transaction_id
    return fee


def record_uninvoiced(session: Session, subscription: Subscription, usage: ChargeUsage, bucket: BucketUsage,
                      window: BillingWindow, now: datetime, row: EventRow | None = None) -> Fee:
    """The fee of a charge that is not invoiceable (of event ``row``, if any) over ``window``: taxed
    on its own and announced with ``fee.created``."""
    customer, charge = subscription.customer, usage.charge
    pricing = service.pricing_for(session, subscription.organization_id, subscription)
    currency = pricing.snapshot.amount_currency
    fee = _fee(None, subscription, usage, bucket, window, currency, row)
    rates = service.charge_fee_taxes(pricing, customer)(charge)
    tax = fee_tax(rates, Decimal(fee.amount_cents))
    fee.taxes_rate, fee.taxes_precise_amount_cents, fee.taxes_amount_cents = (
        tax.taxes_rate, tax.precise_amount_cents, tax.amount_cents)
    names = builder.tax_names(session, subscription.organization_id) if rates else {}
    fee.applied_taxes = builder.applied_taxes_json(names, rates, Decimal(fee.amount_cents), currency)
    session.add(fee)
    session.flush()  # the one-fee-per-charge-and-event constraint answers here
    webhooks.emit(session, subscription.organization_id, "fee.created", "fee",
                  fee_json(fee, None, customer, subscription))
    return fee


__all__ = ["EventFee", "create_for_event", "in_advance_charges", "price_event", "record_uninvoiced"]
