"""Coupons and credit notes an invoice consumes when it is finalized, and its ``credits`` list.

At finalization :func:`inputs` gathers the customer's active coupons and its credit notes with
a balance; :func:`billow.pricing.invoice.compute_invoice` decides what each gives; :func:`record`
writes one ``credits`` row per coupon and credit note used and moves their state (uses left,
terminated, balance). Pricing an invoice again first undoes its earlier credits
(:func:`release`, called by :func:`inputs`), so a coupon or a credit note is never consumed twice
by the same invoice.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.coupons import applied_service
from billow.coupons.schemas import coupon_item, credit_json
from billow.credit_notes import balance
from billow.credit_notes import repository as credit_notes
from billow.invoices import progressive_credits, repository
from billow.models import AppliedCoupon, Credit, CreditNote, Invoice
from billow.pricing import coupons as pricing_coupons
from billow.pricing import credits as pricing_credits
from billow.pricing.invoice import InvoiceTotals


@dataclass
class CreditInputs:
    """What the customer can spend on one invoice, keyed as the pricing sees it."""

    coupons: dict[str, tuple[AppliedCoupon, pricing_coupons.Coupon]] = field(default_factory=dict)
    credit_notes: dict[str, tuple[CreditNote, pricing_credits.CreditNote]] = field(default_factory=dict)


def _of(session: Session, invoice: Invoice) -> list[Credit]:
    return list(session.scalars(select(Credit).where(Credit.invoice_id == invoice.id)
                                .order_by(Credit.created_at, Credit.id)))


def release(session: Session, invoice: Invoice) -> None:
    """Give back what ``invoice`` took from coupons and credit notes and forget its credits."""
    credits = _of(session, invoice)
    if not credits:
        return
    applied_service.give_back(session, [c for c in credits if c.applied_coupon_id is not None])
    balance.give_back(session, [c for c in credits if c.credit_note_id is not None])
    for credit in credits:
        session.delete(credit)
    session.flush()


def recredit(session: Session, invoice: Invoice) -> None:
    """``invoice`` is voided: the credit notes it consumed get that amount back (its coupons do not)."""
    balance.give_back(session, [c for c in _of(session, invoice) if c.credit_note_id is not None])
    session.flush()


def inputs(session: Session, invoice: Invoice) -> CreditInputs:
    """The customer's active coupons and credit notes with a balance, once what an
    earlier pricing of ``invoice`` took is given back. The customer stays locked until the
    invoice's transaction ends, so two invoices never spend the same credit."""
    credit_notes.lock_customer(session, invoice.customer_id)
    release(session, invoice)
    if not holders(session, [invoice.customer_id]):
        return CreditInputs()
    return CreditInputs(applied_service.for_invoice(session, invoice.customer),
                        balance.for_invoice(session, invoice))


def adding(spent: CreditInputs, notes: Collection[CreditNote]) -> CreditInputs:
    """``spent`` and these new credit notes of the customer (the newest), as :func:`inputs` would
    have read them."""
    if not notes:
        return spent
    return CreditInputs(spent.coupons, {**spent.credit_notes, **balance.entries(notes)})


def holders(session: Session, customer_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these customers with an active coupon or a credit note with a balance (one query)."""
    coupons = select(AppliedCoupon.customer_id).where(repository.among(session, AppliedCoupon.customer_id, customer_ids),
                                                      AppliedCoupon.status == "active")
    notes = select(CreditNote.customer_id).where(repository.among(session, CreditNote.customer_id, customer_ids),
                                                 CreditNote.credit_status == "available",
                                                 CreditNote.balance_amount_cents > 0)
    return set(session.scalars(coupons.union(notes)))


def record(session: Session, invoice: Invoice, totals: InvoiceTotals, spent: CreditInputs, at: datetime) -> None:
    """A credit per coupon and credit note that gave something, and their new state."""
    for result in totals.coupons:
        if result.applied and result.amount_cents > 0:
            applied_service.record_use(session, invoice, spent.coupons[result.key][0], result, at)
    for use in totals.credit_notes:
        if use.amount_cents > 0:
            balance.record_use(session, invoice, spent.credit_notes[use.key][0], use)
    session.flush()


def credits_json(session: Session, invoice: Invoice) -> list[dict[str, Any]]:
    """The invoice's ``credits``: progressive-billing invoices and coupons in the order they applied
    (before taxes), then credit notes, oldest first (after taxes)."""
    entries = []
    for credit in _of(session, invoice):
        if credit.progressive_billing_invoice_id is not None:  # deducted first, before coupons
            entries.append(((0, -1, credit.created_at), progressive_credits.credit_entry(session, credit)))
        elif credit.applied_coupon_id is not None:
            applied = session.get_one(AppliedCoupon, credit.applied_coupon_id)
            coupon = applied.coupon
            scope = 0 if coupon.limited_billable_metrics else 1 if coupon.limited_plans else 2
            entries.append(((0, scope, applied.created_at), credit_json(credit, coupon_item(applied))))
        else:
            note = session.get_one(CreditNote, credit.credit_note_id)
            entries.append(((1, 0, note.created_at), credit_json(credit, balance.credit_note_item(note))))
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]
