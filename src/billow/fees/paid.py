"""Fees paid on their own, and the invoice that gathers them.

A pay-in-advance charge that is not invoiceable records a fee per event and no invoice; its payment
is marked on the fee (``PUT /fees/{id}`` with ``payment_status``, refused with 405 ``invoiced_fee``
on a fee an invoice carries), which stamps when it became succeeded, failed or refunded. Such a fee
can also be deleted (``DELETE /fees/{id}``, same refusal): hidden, kept so its event is not billed
again.

When the plan has such a charge with ``regroup_paid_fees: "invoice"``, the billing run that closes
a charges window gathers the subscription's fees paid by the window's end (and whose own window
ended by then) on an invoice of type ``advance_charges`` (Lago's ``Invoices::AdvanceChargesService``):
invoicing reason ``in_advance_charge_periodic``, finalized at once and already paid
(``payment_status`` succeeded, nothing due). Its totals are the sums of its fees as they were paid:
``fees_amount_cents`` = Σ amounts, ``taxes_amount_cents`` = Σ fee taxes (not recomputed on the
total), ``total_amount_cents`` = both; no coupon, credit note nor wallet applies. Nothing here
commits.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.core.errors import NotAllowed, NotFound
from billow.fees.schemas import FeeUpdate
from billow.invoices import service as invoices
from billow.models import Fee, Invoice, InvoiceSubscription, Subscription
from billow.pricing.periods import ONE_SECOND
from billow.usage.service import pricing_for

ADVANCE_CHARGES = "advance_charges"
IN_ADVANCE_CHARGE_PERIODIC = "in_advance_charge_periodic"


def _uninvoiced(session: Session, organization_id: uuid.UUID, fee_id: uuid.UUID) -> Fee:
    fee = session.scalar(select(Fee).where(Fee.organization_id == organization_id, Fee.id == fee_id,
                                           Fee.deleted_at.is_(None)).with_for_update())
    if fee is None:
        raise NotFound("fee")
    if fee.invoice_id is not None:
        raise NotAllowed("invoiced_fee")
    return fee


def delete(session: Session, organization_id: uuid.UUID, fee_id: uuid.UUID, now: datetime) -> Fee:
    """Hide a fee without invoice (it stays, so its event is never billed again)."""
    fee = _uninvoiced(session, organization_id, fee_id)
    fee.deleted_at = now
    session.flush()
    return fee


def update(session: Session, organization_id: uuid.UUID, fee_id: uuid.UUID, data: FeeUpdate, now: datetime) -> Fee:
    fee = _uninvoiced(session, organization_id, fee_id)
    if data.payment_status is not None:
        fee.payment_status = data.payment_status
        if data.payment_status == "succeeded":
            fee.succeeded_at = now
        elif data.payment_status == "failed":
            fee.failed_at = now
        elif data.payment_status == "refunded":
            fee.refunded_at = now
    session.flush()
    return fee


def regroups(session: Session, subscription: Subscription) -> bool:
    """Whether the subscription's plan gathers paid fees on an invoice (a charge says so)."""
    charges = pricing_for(session, subscription.organization_id, subscription).snapshot.charges
    return any(c.pay_in_advance and not c.invoiceable and c.regroup_paid_fees == "invoice" for c in charges)


def bill_paid_fees(session: Session, subscription: Subscription, window_end: datetime, issuing_date: date,
                   at: datetime, *, terminating: bool = False) -> Invoice | None:
    """The ``advance_charges`` invoice of the subscription's fees paid before ``window_end`` (the
    instant after the charges window just billed) and not on an invoice yet, of windows ended by
    then (any window when the subscription ends there), issued with the invoice of that window;
    ``None`` when there is none."""
    if not regroups(session, subscription):
        return None
    conditions = [Fee.subscription_id == subscription.id, Fee.invoice_id.is_(None), Fee.deleted_at.is_(None),
                  Fee.payment_status == "succeeded", Fee.succeeded_at < window_end]
    if not terminating:
        conditions.append(Fee.to_datetime < window_end)
    fees = list(session.scalars(select(Fee).where(*conditions).order_by(Fee.created_at, Fee.id)))
    if not fees:
        return None
    invoice = invoices.new_invoice(session, subscription.customer, fees[0].amount_currency, issuing_date,
                                   ADVANCE_CHARGES)
    invoice.grace_period_ends_at = None
    first = min(fee.from_datetime for fee in fees)
    session.add(InvoiceSubscription(
        organization_id=subscription.organization_id, invoice_id=invoice.id, subscription_id=subscription.id,
        invoicing_reason=IN_ADVANCE_CHARGE_PERIODIC, from_datetime=first, to_datetime=window_end - ONE_SECOND,
        charges_from_datetime=first, charges_to_datetime=window_end - ONE_SECOND))
    for position, fee in enumerate(fees, start=1):
        fee.invoice_id, fee.position = invoice.id, position
    _totals(invoice, fees)
    invoices.close(session, invoice, at)
    invoice.payment_status = "succeeded"  # paid fee by fee: nothing is due
    invoices.announce(session, invoice, "invoice.created")
    return invoice


def _totals(invoice: Invoice, fees: list[Fee]) -> None:
    """The sums of the fees as they were paid; the taxes per tax summed over the fees."""
    amount = sum(fee.amount_cents for fee in fees)
    taxes = sum(fee.taxes_amount_cents for fee in fees)
    invoice.fees_amount_cents = invoice.sub_total_excluding_taxes_amount_cents = amount
    invoice.taxes_amount_cents = taxes
    invoice.sub_total_including_taxes_amount_cents = invoice.total_amount_cents = amount + taxes
    invoice.coupons_amount_cents = invoice.credit_notes_amount_cents = invoice.prepaid_credit_amount_cents = 0
    invoice.progressive_billing_credit_amount_cents = 0
    applied: dict[str, dict[str, Any]] = {}
    for fee in fees:
        for tax in fee.applied_taxes:
            known = applied.setdefault(tax["tax_code"], {key: value for key, value in tax.items()
                                                         if key != "lago_fee_id"} | {"amount_cents": 0,
                                                                                      "fees_amount_cents": 0})
            known["amount_cents"] += tax["amount_cents"]
            known["fees_amount_cents"] += fee.amount_cents
    invoice.applied_taxes = list(applied.values())


__all__ = ["ADVANCE_CHARGES", "bill_paid_fees", "delete", "regroups", "update"]
