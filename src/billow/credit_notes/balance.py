"""The credit part of credit notes, consumed by the customer's later invoices (after taxes, oldest
credit note first): what an invoice may take (:func:`for_invoice`), what it took
(:func:`record_use`) and giving it back when the invoice is priced again (:func:`give_back`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from billow.credit_notes import repository
from billow.models import Credit, CreditNote, Invoice
from billow.pricing import credits as pricing


def for_invoice(session: Session, invoice: Invoice) -> dict[str, tuple[CreditNote, pricing.CreditNote]]:
    """The customer's credit notes in the invoice's currency with a balance, oldest first (locked)."""
    return entries(repository.available_for(session, invoice.customer_id, invoice.currency))


def entries(notes: Iterable[CreditNote]) -> dict[str, tuple[CreditNote, pricing.CreditNote]]:
    """These credit notes as an invoice may take them, by key."""
    return {str(note.id): (note, pricing.CreditNote(str(note.id), note.balance_amount_cents)) for note in notes}


def record_use(session: Session, invoice: Invoice, note: CreditNote, use: pricing.CreditNoteUse) -> Credit:
    note.balance_amount_cents = use.balance_cents_after
    if note.balance_amount_cents == 0:
        note.credit_status = "consumed"
    credit = Credit(organization_id=invoice.organization_id, invoice_id=invoice.id, credit_note_id=note.id,
                    amount_cents=use.amount_cents, amount_currency=invoice.currency, before_taxes=False)
    session.add(credit)
    return credit


def give_back(session: Session, credits: Sequence[Credit]) -> None:
    """Credit again what these credits took (a voided credit note stays voided, at 0)."""
    for credit in credits:
        note = session.get_one(CreditNote, credit.credit_note_id)
        if note.credit_status == "voided":
            continue
        note.balance_amount_cents += credit.amount_cents
        note.credit_status = "available"


def credit_note_item(note: CreditNote) -> dict[str, Any]:
    """The ``item`` of a credit note's credit on an invoice."""
    return {"lago_item_id": str(note.id), "type": "credit_note", "code": note.number, "name": note.invoice.number}
