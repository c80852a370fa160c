"""What one pay-in-advance event would cost, without storing it (``POST /events/estimate_fees``).

The fee is priced by :func:`billow.fees.service.price_event`, the rule that creates the fee when
the event is stored: an estimate equals the fee the event then gets.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.core.errors import NotFound
from billow.core.money import exponent
from billow.core.wire import iso_utc
from billow.events.schemas import EventIn
from billow.fees.service import price_event
from billow.models import BillableMetric, Customer, Organization, Subscription
from billow.pricing.aggregation import Event
from billow.pricing.taxes import fee_tax
from billow.subscriptions.repository import resolve
from billow.usage import charges, service


def estimate_fees(session: Session, organization: Organization, event: EventIn) -> list[dict[str, Any]]:
    subscription: Subscription | None = resolve(session, organization.id, event.external_subscription_id,
                                                event.timestamp)
    if subscription is None:
        raise NotFound("subscription")
    metric = session.scalar(select(BillableMetric).where(
        BillableMetric.organization_id == organization.id, BillableMetric.code == event.code,
        BillableMetric.deleted_at.is_(None)))
    if metric is None:
        raise NotFound("billable_metric")
    customer: Customer = subscription.customer
    pricing = service.pricing_for(session, organization.id, subscription)
    currency = pricing.snapshot.amount_currency
    candidate = Event(event.transaction_id or "estimate", event.timestamp, event.properties, charges.EXTRA_ORDER)
    rates_of = service.charge_fee_taxes(pricing, customer)
    fees = []
    for priced in price_event(session, subscription, metric, candidate,
                              precise_total_amount_cents=event.precise_total_amount_cents):
        charge, key, amount, cents = priced.charge, priced.key, priced.amount, priced.amount_cents
        tax = fee_tax(rates_of(charge), Decimal(cents))
        fees.append({
            "lago_id": None, "lago_charge_id": str(charge.id),
            "lago_charge_filter_id": None if key[0] is None else str(charge.filters[key[0]].id),
            "lago_invoice_id": None, "lago_true_up_fee_id": None, "lago_true_up_parent_fee_id": None,
            "lago_subscription_id": str(subscription.id), "lago_customer_id": str(customer.id),
            "external_customer_id": customer.external_id, "external_subscription_id": subscription.external_id,
            "amount_cents": cents, "precise_amount": str(amount.amount), "amount_currency": currency,
            "taxes_amount_cents": tax.amount_cents, "taxes_precise_amount": str(tax.precise_amount_cents),
            "taxes_rate": str(tax.taxes_rate), "units": str(amount.units),
            "precise_unit_amount": str(amount.unit_amount),
            "total_aggregated_units": str(priced.total_aggregated_units),
            "total_amount_cents": cents + tax.amount_cents, "total_amount_currency": currency,
            "events_count": 1, "pay_in_advance": True, "invoiceable": charge.invoiceable,
            "from_date": iso_utc(priced.window.charges_from_datetime),
            "to_date": iso_utc(priced.window.charges_to_datetime),
            "payment_status": "pending", "created_at": None, "succeeded_at": None, "failed_at": None,
            "refunded_at": None, "event_transaction_id": event.transaction_id or None,
            "sub_total_excluding_taxes_amount_cents": cents,
            "sub_total_excluding_taxes_precise_amount_cents": str(amount.amount.scaleb(exponent(currency))),
            "precise_coupons_amount_cents": "0", "amount_details": amount.amount_details,
            "item": {"type": "charge", "code": metric.code, "name": metric.name,
                     "invoice_display_name": charge.invoice_display_name or metric.name,
                     "lago_item_id": str(metric.id),
                     "item_type": "BillableMetric", "filters": None if key[0] is None else charge.filters[key[0]].values,
                     "grouped_by": charges.group_of_key(charge, key)},
            "applied_taxes": [],
        })
    return fees
