"""The automatic credit note on a progressive invoice for what a later invoice of its period could
not deduct (lago-payments-wallets-alerts.md 5.4).

A later invoice of a progressive invoice's period deducts what that invoice billed, at most the
matching charge fees it bills itself (usage went down since, or the invoice closes the period
early). The rest is given back by a credit note on the progressive invoice, as Lago does: reason
``other``, all of it credited to the customer's balance (consumed by the next invoices, the one
deducting first), its items taken from the invoice's fees, largest first, each up to what the fee
has left to credit (an excess above all of them is not credited), with the coupon share and the
taxes those fees bore (:func:`billow.credit_notes.service.price_items`).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.credit_notes import repository, service
from billow.models import CreditNote, Fee, Invoice
from billow.pricing.credit_notes import fee_creditable_cents

REASON = "other"


def credit_excess(session: Session, source: Invoice, amount_cents: int) -> CreditNote | None:
    """The credit note giving back ``amount_cents`` (before coupons and taxes) of the progressive
    invoice ``source``; ``None`` when there is nothing left to credit."""
    if amount_cents <= 0:
        return None
    session.refresh(source, with_for_update=True)
    fees = sorted(session.scalars(select(Fee).where(Fee.invoice_id == source.id)),
                  key=lambda fee: (-fee.amount_cents, fee.position, str(fee.id)))
    credited = repository.credited_by_fee(session, source.id)
    remaining = Decimal(amount_cents)
    wanted = []
    for fee in fees:
        part = min(remaining, fee_creditable_cents(fee.amount_cents, credited.get(fee.id, [])))
        if part > 0:
            wanted.append((fee.id, part))
            remaining -= part
        if remaining == 0:
            break
    if not wanted:
        return None
    priced = service.price_items(session, source, wanted)
    total = priced.totals.total_amount_cents
    if total <= 0:
        return None
    return service.issue(session, priced, reason=REASON, credit=total, refund=0, offset=0)


__all__ = ["REASON", "credit_excess"]
