"""Progressive-billing credits: what an invoice deducts for the progressive invoices of its period.

Each usage period an invoice bills (a progressive invoice's own period so far, a periodic or a
final invoice's charges window) deducts, before coupons and taxes, what the latest *earlier*
progressive invoice of that period billed (its fees are cumulative over the period, so the
latest one holds everything billed before): its fees less its coupons, what other invoices drew
from it and its credit notes' credit (:func:`billow.pricing.progressive.creditable_cents`). The
amount is spread over the subscription's usage fees on the invoice
(:func:`billow.pricing.credits.allocate_progressive_credit`), never more than they bill, and
recorded as a ``credits`` row naming the progressive invoice (``item.type: "invoice"``). It is
applied to drafts too, and computed afresh each time the invoice is priced.

When finalized, an invoice whose matching fees are below what it may deduct (usage went down in
the period, or a termination or an upgrade closed it early) gives the rest back by an automatic
credit note on the progressive invoice (:func:`billow.credit_notes.progressive.credit_excess`),
which the invoice itself consumes first, like the customer's other credit notes (an invoice is
finalized once: the credit note is written once). Its credit then counts among what the
progressive invoice has given.

A voided progressive invoice gives nothing: the latest one not voided of the period is deducted.
Credits drawn by an invoice later voided are given back to the progressive invoice; voiding the
progressive invoice itself leaves the credits other invoices drew from it (as in Lago).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from billow.coupons.schemas import credit_json
from billow.credit_notes.progressive import credit_excess
from billow.models import Credit, CreditNote, Fee, Invoice, InvoiceSubscription
from billow.pricing.credits import allocate_progressive_credit
from billow.pricing.progressive import creditable_cents
from billow.pricing.taxes import Fee as PricedFee

PROGRESSIVE_BILLING = "progressive_billing"
# The billing periods whose usage fees a progressive invoice may already have billed.
USAGE_REASONS = ("subscription_periodic", "subscription_terminating", PROGRESSIVE_BILLING)


def latest_progressive(session: Session, subscription_id: uuid.UUID, start: datetime, stop: datetime,
                       excluded: uuid.UUID | None = None) -> Invoice | None:
    """The latest progressive invoice (not voided) of the subscription billing usage between
    ``start`` and ``stop``, other than ``excluded``."""
    stmt = (select(Invoice).join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
            .where(InvoiceSubscription.subscription_id == subscription_id,
                   InvoiceSubscription.invoicing_reason == PROGRESSIVE_BILLING,
                   InvoiceSubscription.charges_from_datetime >= start,
                   InvoiceSubscription.charges_to_datetime <= stop, Invoice.status != "voided")
            .order_by(InvoiceSubscription.charges_to_datetime.desc(), Invoice.created_at.desc()).limit(1))
    if excluded is not None:
        stmt = stmt.where(Invoice.id != excluded)
    return session.scalar(stmt)


def _creditable(session: Session, source: Invoice, invoice: Invoice) -> int:
    drawn = session.scalar(select(func.coalesce(func.sum(Credit.amount_cents), 0))
                           .join(Invoice, Invoice.id == Credit.invoice_id)
                           .where(Credit.progressive_billing_invoice_id == source.id, Credit.invoice_id != invoice.id,
                                  Invoice.status != "voided"))
    notes = session.scalar(select(func.coalesce(func.sum(CreditNote.credit_amount_cents), 0))
                           .where(CreditNote.invoice_id == source.id,
                                  CreditNote.credit_status.in_(("available", "consumed"))))
    # (PostgreSQL sums integers as numerics: back to whole minor units.)
    return creditable_cents(source.fees_amount_cents, source.coupons_amount_cents, int(drawn or 0), int(notes or 0))


def _usage_fee(fee: Fee, subscription_id: uuid.UUID) -> bool:
    return fee.subscription_id == subscription_id and fee.fee_type == "charge" and not fee.pay_in_advance


def deduct(session: Session, invoice: Invoice, fees: Sequence[Fee], priced: Sequence[PricedFee], *,
           finalize: bool = False) -> tuple[list[PricedFee], list[CreditNote]]:
    """``priced`` (the pricing's view of ``fees``) with the progressive credits of the invoice's
    periods on the matching fees; the invoice's progressive credits are written anew. Finalizing,
    what the matching fees cannot take is credited back by credit notes, also returned."""
    session.execute(delete(Credit).where(Credit.invoice_id == invoice.id,
                                         Credit.progressive_billing_invoice_id.is_not(None)))
    result = list(priced)
    notes = []
    links = session.scalars(select(InvoiceSubscription).where(InvoiceSubscription.invoice_id == invoice.id,
                                                              InvoiceSubscription.invoicing_reason.in_(USAGE_REASONS)))
    for link in links:
        source = latest_progressive(session, link.subscription_id, link.charges_from_datetime,
                                    link.charges_to_datetime, excluded=invoice.id)
        amount = 0 if source is None else _creditable(session, source, invoice)
        if source is None or amount == 0:
            continue
        matching = [i for i, fee in enumerate(fees) if _usage_fee(fee, link.subscription_id)]
        allocation = allocate_progressive_credit(amount, [result[i] for i in matching])
        for i, shared in zip(matching, allocation.fees, strict=True):
            result[i] = shared
        note = credit_excess(session, source, allocation.excess_cents) if finalize else None
        if note is not None:
            notes.append(note)
        if allocation.applied_cents:
            session.add(Credit(organization_id=invoice.organization_id, invoice_id=invoice.id,
                               progressive_billing_invoice_id=source.id, amount_cents=allocation.applied_cents,
                               amount_currency=invoice.currency, before_taxes=True))
    session.flush()
    return result, notes


def credit_entry(session: Session, credit: Credit) -> dict[str, Any]:
    """The ``credits[]`` entry of a progressive credit: the progressive invoice it deducts."""
    source = session.get_one(Invoice, credit.progressive_billing_invoice_id)
    return credit_json(credit, {"lago_item_id": str(source.id), "type": "invoice", "code": source.number,
                                "name": source.number})


__all__ = ["PROGRESSIVE_BILLING", "USAGE_REASONS", "credit_entry", "deduct", "latest_progressive"]
