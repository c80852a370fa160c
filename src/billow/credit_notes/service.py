"""Credit note rules: estimate, create (with Lago's validations), refund status, void. Nothing here
commits.

A credit note gives back parts of a finalized invoice's fees. Its amounts come from
:func:`billow.pricing.credit_notes.credit_note_totals` (the fees' coupon shares and taxes, one
rounding each); the caller splits the total into a credit (a balance the customer's next invoices
consume, :mod:`billow.credit_notes.balance`), a refund (for a paid invoice) and an offset (against
what an unpaid invoice still owes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.errors import ErrorDetails, NotAllowed, NotFound, ValidationFailed
from billow.credit_notes import repository
from billow.credit_notes.schemas import (
    CreditNoteCreate,
    CreditNoteEstimateIn,
    CreditNoteUpdate,
    credit_note_json,
    estimate_json,
)
from billow.documents import tasks as documents
from billow.models import CreditNote, CreditNoteItem, Fee, Invoice, Organization
from billow.pricing.credit_notes import (
    CreditItem,
    CreditNoteTotals,
    credit_note_totals,
    fee_creditable_cents,
    refundable_cents,
)
from billow.pricing.periods import local_date
from billow.pricing.proration import round_cents
from billow.pricing.taxes import TaxRate
from billow.webhooks import service as webhooks

ITEM_PLACES = Decimal("0.00001")  # item amounts are kept with 5 decimals of a minor unit


@dataclass(frozen=True)
class PricedItems:
    """The credit note some items of ``invoice`` make, before it is split and written."""

    invoice: Invoice
    items: list[tuple[Fee, Decimal]]
    totals: CreditNoteTotals
    errors: ErrorDetails


def finalized_invoice(session: Session, organization: Organization, invoice_id: str) -> Invoice:
    """The invoice a credit note is for (locked): it must be finalized."""
    try:
        key = uuid.UUID(invoice_id)
    except ValueError:
        raise NotFound("invoice") from None
    invoice = session.get(Invoice, key, with_for_update=True)
    if invoice is None or invoice.organization_id != organization.id:
        raise NotFound("invoice")
    if invoice.status != "finalized":
        raise NotAllowed("invalid_type_or_status")
    return invoice


def _rates(fee: Fee) -> tuple[TaxRate, ...]:
    """The taxes the invoice applied to the fee."""
    return tuple(TaxRate(tax["tax_code"], Decimal(str(tax["tax_rate"]))) for tax in fee.applied_taxes)


def price_items(session: Session, invoice: Invoice, wanted: list[tuple[uuid.UUID, Decimal]]) -> PricedItems:
    """Price ``wanted`` (fee id, unrounded amount) on ``invoice``; an unknown fee is a 404, an
    amount above what the fee has left to credit (earlier credit notes and earlier items of
    ``wanted`` included) is reported in ``errors``."""
    fees = repository.fees(session, invoice.id, [fee_id for fee_id, _ in wanted])
    credited = repository.credited_by_fee(session, invoice.id)
    errors: ErrorDetails = {}
    items = []
    for fee_id, amount in wanted:
        fee = fees.get(fee_id)
        if fee is None:
            raise NotFound("fee")
        if amount > fee_creditable_cents(fee.amount_cents, credited.get(fee.id, [])):
            errors["amount_cents"] = ["higher_than_remaining_fee_amount"]
        credited.setdefault(fee.id, []).append(amount)
        items.append((fee, amount))
    totals = credit_note_totals([CreditItem(str(fee.id), amount, fee.amount_cents, fee.precise_coupons_amount_cents,
                                            _rates(fee)) for fee, amount in items])
    return PricedItems(invoice, items, totals, errors)


def _paid_cents(invoice: Invoice) -> int:
    return invoice.total_amount_cents if invoice.payment_status == "succeeded" else 0


def _room(session: Session, invoice: Invoice) -> tuple[int, int, int]:
    """(what credit notes may still give back in all, what may still be refunded, what may still
    be offset) on ``invoice``."""
    notes = repository.of_invoice(session, invoice.id)
    remaining = max(0, invoice.sub_total_including_taxes_amount_cents - sum(n.total_amount_cents for n in notes))
    refundable = refundable_cents(_paid_cents(invoice), [n.refund_amount_cents for n in notes])
    due = invoice.total_amount_cents - _paid_cents(invoice) - sum(n.offset_amount_cents for n in notes)
    return remaining, refundable, max(0, due)


def _tax_lines(priced: PricedItems) -> list[dict[str, Any]]:
    """Per tax code: the tax as the invoice named it, its base and amount on this credit note."""
    named = {tax["tax_code"]: tax for fee, _ in priced.items for tax in fee.applied_taxes}
    return [{"lago_tax_id": named[tax.code].get("lago_tax_id"), "tax_name": named[tax.code].get("tax_name"),
             "tax_code": tax.code, "tax_rate": float(tax.rate),
             "tax_description": named[tax.code].get("tax_description"), "amount_cents": tax.amount_cents,
             "amount_currency": priced.invoice.currency, "base_amount_cents": round_cents(tax.base_amount_cents)}
            for tax in priced.totals.applied_taxes]


def _wanted(data: CreditNoteEstimateIn) -> list[tuple[uuid.UUID, Decimal]]:
    return [(item.fee_id, Decimal(item.amount_cents)) for item in data.items]


def estimate(session: Session, organization: Organization, data: CreditNoteEstimateIn) -> dict[str, Any]:
    """What a credit note of these items would be, and how much of it may be credited, refunded
    or offset (nothing is written)."""
    invoice = finalized_invoice(session, organization, data.invoice_id)
    priced = price_items(session, invoice, _wanted(data))
    if priced.errors:
        raise ValidationFailed(priced.errors)
    total = priced.totals.total_amount_cents
    remaining, refundable, offsettable = _room(session, invoice)
    items = [{"lago_fee_id": str(fee.id), "amount_cents": round_cents(amount)} for fee, amount in priced.items]
    return estimate_json(invoice.id, invoice.number, invoice.currency, priced.totals, items, _tax_lines(priced),
                         (min(total, remaining), min(total, refundable), min(total, offsettable)))


def _check(session: Session, priced: PricedItems, credit: int, refund: int, offset: int) -> None:
    """Lago's validations of a new credit note; 422 with every failing field."""
    invoice, total = priced.invoice, priced.totals.total_amount_cents
    errors: ErrorDetails = dict(priced.errors)
    remaining, refundable, offsettable = _room(session, invoice)

    def fail(field: str, code: str) -> None:
        errors.setdefault(field, []).append(code)

    if total <= 0:
        fail("base", "total_amount_must_be_positive")
    elif credit + refund + offset != total:
        fail("base", "does_not_match_item_amounts")
    if total > remaining:
        fail("base", "higher_than_remaining_invoice_amount")
    if refund > 0 and invoice.payment_status != "succeeded":
        fail("refund_amount_cents", "cannot_refund_unpaid_invoice")
    elif refund > refundable:
        fail("refund_amount_cents", "higher_than_remaining_invoice_amount")
    if credit > remaining:
        fail("credit_amount_cents", "higher_than_remaining_invoice_amount")
    if offset > offsettable:
        fail("offset_amount_cents", "higher_than_remaining_invoice_amount")
    if errors:
        raise ValidationFailed(errors)


def issue(session: Session, priced: PricedItems, *, reason: str, credit: int, refund: int, offset: int,
          description: str | None = None, metadata: dict[str, Any] | None = None) -> CreditNote:
    """Write the credit note (numbered after its invoice) and announce it."""
    invoice, totals = priced.invoice, priced.totals
    sequence = repository.next_sequential_id(session, invoice.id)
    note = CreditNote(
        id=uuid.uuid4(), organization_id=invoice.organization_id, customer_id=invoice.customer_id,
        invoice_id=invoice.id, sequential_id=sequence, number=f"{invoice.number}-CN{sequence}",
        issuing_date=local_date(clock.now(), invoice.customer.applicable_timezone), reason=reason,
        description=description, credit_status="available" if credit > 0 else None,
        refund_status="pending" if refund > 0 else None, currency=invoice.currency,
        total_amount_cents=totals.total_amount_cents, credit_amount_cents=credit, refund_amount_cents=refund,
        offset_amount_cents=offset, balance_amount_cents=credit,
        sub_total_excluding_taxes_amount_cents=totals.sub_total_excluding_taxes_amount_cents,
        coupons_adjustment_amount_cents=totals.coupons_adjustment_amount_cents,
        precise_coupons_adjustment_amount_cents=totals.precise_coupons_adjustment_amount_cents,
        taxes_amount_cents=totals.taxes_amount_cents, precise_taxes_amount_cents=totals.precise_taxes_amount_cents,
        taxes_rate=totals.taxes_rate, credit_note_metadata=metadata or {},
        applied_taxes=[{"lago_id": str(uuid.uuid4()), **tax} for tax in _tax_lines(priced)],
    )
    session.add(note)
    session.flush()
    for position, (fee, amount) in enumerate(priced.items, start=1):
        session.add(CreditNoteItem(organization_id=invoice.organization_id, credit_note_id=note.id, fee_id=fee.id,
                                   position=position, amount_cents=round_cents(amount),
                                   precise_amount_cents=amount.quantize(ITEM_PLACES, rounding=ROUND_DOWN),
                                   amount_currency=invoice.currency))
    session.flush()
    session.refresh(note)
    webhooks.emit(session, invoice.organization_id, "credit_note.created", "credit_note",
                  credit_note_json(session, note))
    documents.enqueue_credit_note(session, note.id)
    return note


def create(session: Session, organization: Organization, data: CreditNoteCreate) -> CreditNote:
    invoice = finalized_invoice(session, organization, data.invoice_id)
    priced = price_items(session, invoice, _wanted(data))
    _check(session, priced, data.credit_amount_cents, data.refund_amount_cents, data.offset_amount_cents)
    return issue(session, priced, reason=data.reason, credit=data.credit_amount_cents,
                 refund=data.refund_amount_cents, offset=data.offset_amount_cents, description=data.description,
                 metadata=data.metadata)


def update(session: Session, organization: Organization, lago_id: str, data: CreditNoteUpdate) -> CreditNote:
    """Refund status (the refund was made elsewhere) and metadata (replaced by what is sent)."""
    note = repository.get(session, organization.id, lago_id, for_update=True)
    if data.refund_status is not None:
        note.refund_status = data.refund_status
        note.refunded_at = clock.now() if data.refund_status == "succeeded" else None
    if data.metadata is not None:
        note.credit_note_metadata = data.metadata
    session.flush()
    return note


def update_metadata(session: Session, organization: Organization, lago_id: str, change: Any) -> dict[str, Any]:
    """The metadata sub-endpoints (:func:`billow.core.metadata.add_routes`)."""
    note = repository.get(session, organization.id, lago_id, for_update=True)
    note.credit_note_metadata = change(note.credit_note_metadata)
    session.flush()
    return note.credit_note_metadata


def void(session: Session, organization: Organization, lago_id: str) -> CreditNote:
    """What is left of the credit can no longer be consumed (405 ``no_voidable_amount`` if none)."""
    note = repository.get(session, organization.id, lago_id, for_update=True)
    if note.credit_status != "available" or note.balance_amount_cents <= 0:
        raise NotAllowed("no_voidable_amount")
    note.credit_status, note.balance_amount_cents, note.voided_at = "voided", 0, clock.now()
    session.flush()
    return note
