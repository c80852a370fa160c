"""The Fee object of Lago's wire."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from billow.core.money import exponent
from billow.core.wire import iso_utc
from billow.models import Customer, Fee, Invoice, Subscription
from billow.pricing.proration import ARITHMETIC, round_cents

class FeeUpdate(BaseModel):
    """``PUT /fees/{id}`` body (root ``fee``)."""

    payment_status: Literal["pending", "succeeded", "failed", "refunded"] | None = None


def _major(cents: Decimal, currency: str) -> str:
    """A precise amount in minor units written in major units, as Lago's ``precise_*`` fields."""
    return str(ARITHMETIC.divide(cents, Decimal(10) ** exponent(currency)).normalize() + 0)


def _instant(at: datetime | None) -> str | None:
    return iso_utc(at) if at is not None else None


def fee_json(fee: Fee, invoice: Invoice | None, customer: Customer, subscription: Subscription | None,
             true_up_fee_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The fee; ``invoice`` is None for a pay-in-advance fee that is not invoiced."""
    currency = fee.amount_currency
    sub_total_precise = fee.precise_amount_cents - fee.precise_coupons_amount_cents
    unit = ARITHMETIC.divide(fee.precise_amount_cents, fee.units) if fee.units else Decimal(0)
    return {
        "lago_id": str(fee.id),
        "lago_charge_id": str(fee.charge_id) if fee.charge_id else None,
        "lago_charge_filter_id": str(fee.charge_filter_id) if fee.charge_filter_id else None,
        "lago_fixed_charge_id": None,
        "lago_invoice_id": str(invoice.id) if invoice is not None else None,
        "lago_true_up_fee_id": str(true_up_fee_id) if true_up_fee_id else None,
        "lago_true_up_parent_fee_id": str(fee.true_up_parent_fee_id) if fee.true_up_parent_fee_id else None,
        "lago_subscription_id": str(subscription.id) if subscription else None,
        "lago_customer_id": str(customer.id),
        "external_customer_id": customer.external_id,
        "external_subscription_id": subscription.external_id if subscription else None,
        "amount_cents": fee.amount_cents,
        "precise_amount": _major(fee.precise_amount_cents, currency),
        "precise_total_amount": _major(fee.precise_amount_cents + fee.taxes_precise_amount_cents, currency),
        "amount_currency": currency,
        "taxes_amount_cents": fee.taxes_amount_cents,
        "taxes_precise_amount": _major(fee.taxes_precise_amount_cents, currency),
        "taxes_rate": float(fee.taxes_rate),
        "units": str(fee.units),
        "precise_unit_amount": _major(unit, currency),
        "total_aggregated_units": str(fee.total_aggregated_units),
        "total_amount_cents": fee.amount_cents + fee.taxes_amount_cents,
        "total_amount_currency": currency,
        "events_count": fee.events_count,
        "pay_in_advance": fee.pay_in_advance,
        "invoiceable": fee.invoiceable,
        "from_date": iso_utc(fee.from_datetime),
        "to_date": iso_utc(fee.to_datetime),
        "payment_status": invoice.payment_status if invoice is not None else fee.payment_status,
        "created_at": iso_utc(fee.created_at),
        "succeeded_at": _instant(fee.succeeded_at),
        "failed_at": _instant(fee.failed_at),
        "refunded_at": _instant(fee.refunded_at),
        "event_transaction_id": fee.event_transaction_id,
        "description": fee.description,
        "precise_coupons_amount_cents": str(fee.precise_coupons_amount_cents),
        "sub_total_excluding_taxes_amount_cents": fee.amount_cents - round_cents(fee.precise_coupons_amount_cents),
        "sub_total_excluding_taxes_precise_amount_cents": str(sub_total_precise),
        "amount_details": {},
        "self_billed": False,
        "item": {**fee.item, "grouped_by": fee.grouped_by},
        "applied_taxes": [{**tax, "lago_fee_id": str(fee.id)} for tax in fee.applied_taxes],
    }
