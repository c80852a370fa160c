"""Credit note queries (no rules)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from billow.core.repository import get_or_404, parse_uuid
from billow.models import CreditNote, CreditNoteItem, Customer, Fee, Invoice


def get(session: Session, organization_id: uuid.UUID, lago_id: str, *, for_update: bool = False) -> CreditNote:
    return get_or_404(session, CreditNote, organization_id, "credit_note", for_update=for_update,
                      id=parse_uuid(lago_id, "credit_note"))


def of_invoice(session: Session, invoice_id: uuid.UUID) -> Sequence[CreditNote]:
    stmt = select(CreditNote).where(CreditNote.invoice_id == invoice_id)
    return session.scalars(stmt.order_by(CreditNote.sequential_id)).all()


def offset_cents(session: Session, invoice_id: uuid.UUID) -> int:
    """What credit notes offset against what the invoice owes."""
    return int(session.scalar(select(func.coalesce(func.sum(CreditNote.offset_amount_cents), 0))
                              .where(CreditNote.invoice_id == invoice_id)) or 0)


def offsets_cents(session: Session, invoice_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """:func:`offset_cents` of many invoices (those without credit notes left out)."""
    rows = session.execute(select(CreditNote.invoice_id, func.sum(CreditNote.offset_amount_cents))
                           .where(CreditNote.invoice_id.in_(invoice_ids)).group_by(CreditNote.invoice_id))
    return {invoice_id: int(total or 0) for invoice_id, total in rows}


def next_sequential_id(session: Session, invoice_id: uuid.UUID) -> int:
    highest = session.scalar(select(func.max(CreditNote.sequential_id)).where(CreditNote.invoice_id == invoice_id))
    return (highest or 0) + 1


def credited_by_fee(session: Session, invoice_id: uuid.UUID) -> dict[uuid.UUID, list[Decimal]]:
    """The precise amounts credit notes of the invoice gave back, per fee."""
    rows = session.execute(select(CreditNoteItem.fee_id, CreditNoteItem.precise_amount_cents)
                           .join(CreditNote, CreditNote.id == CreditNoteItem.credit_note_id)
                           .where(CreditNote.invoice_id == invoice_id))
    credited: dict[uuid.UUID, list[Decimal]] = {}
    for fee_id, amount in rows:
        credited.setdefault(fee_id, []).append(amount)
    return credited


def fees(session: Session, invoice_id: uuid.UUID, fee_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Fee]:
    stmt = select(Fee).where(Fee.invoice_id == invoice_id, Fee.id.in_(fee_ids))
    return {fee.id: fee for fee in session.scalars(stmt)}


def lock_customer(session: Session, customer_id: uuid.UUID) -> None:
    """Serialise what spends a customer's coupons and credit notes (a row lock on PostgreSQL that
    does not wait for the key-share locks of rows being inserted for the customer)."""
    session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update(key_share=True))


def available_for(session: Session, customer_id: uuid.UUID, currency: str) -> Sequence[CreditNote]:
    """The customer's credit notes with a balance to consume, oldest first."""
    stmt = select(CreditNote).where(CreditNote.customer_id == customer_id, CreditNote.currency == currency,
                                    CreditNote.credit_status == "available", CreditNote.balance_amount_cents > 0)
    return session.scalars(stmt.order_by(CreditNote.created_at, CreditNote.id).with_for_update()).all()


def last_subscription_fee(session: Session, subscription_id: uuid.UUID) -> Fee | None:
    """The subscription's latest subscription fee on a finalized invoice."""
    stmt = (select(Fee).join(Invoice, Invoice.id == Fee.invoice_id)
            .where(Fee.subscription_id == subscription_id, Fee.fee_type == "subscription",
                   Invoice.status == "finalized")
            .order_by(Fee.to_datetime.desc(), Fee.created_at.desc()))
    return session.scalars(stmt.limit(1)).first()


@dataclass(frozen=True)
class CreditNoteFilters:
    external_customer_id: str | None = None
    issuing_date_from: date | None = None
    issuing_date_to: date | None = None
    search_term: str | None = None
    currency: str | None = None
    reason: str | None = None
    credit_status: str | None = None
    refund_status: str | None = None
    invoice_number: str | None = None
    amount_from: int | None = None
    amount_to: int | None = None


def list_query(organization_id: uuid.UUID, filters: CreditNoteFilters,
               customer_id: uuid.UUID | None = None) -> Select[tuple[CreditNote]]:
    stmt = select(CreditNote).where(CreditNote.organization_id == organization_id)
    if customer_id is not None:
        stmt = stmt.where(CreditNote.customer_id == customer_id)
    if filters.external_customer_id or filters.search_term:
        stmt = stmt.join(Customer, Customer.id == CreditNote.customer_id)
    if filters.external_customer_id:
        stmt = stmt.where(Customer.external_id == filters.external_customer_id)
    if filters.invoice_number:
        stmt = stmt.join(Invoice, Invoice.id == CreditNote.invoice_id).where(Invoice.number == filters.invoice_number)
    if filters.search_term:
        like = f"%{filters.search_term}%"
        stmt = stmt.where(or_(CreditNote.number.ilike(like), Customer.name.ilike(like),
                              Customer.external_id.ilike(like), Customer.email.ilike(like)))
    for column, value in ((CreditNote.currency, filters.currency), (CreditNote.reason, filters.reason),
                          (CreditNote.credit_status, filters.credit_status),
                          (CreditNote.refund_status, filters.refund_status)):
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.issuing_date_from is not None:
        stmt = stmt.where(CreditNote.issuing_date >= filters.issuing_date_from)
    if filters.issuing_date_to is not None:
        stmt = stmt.where(CreditNote.issuing_date <= filters.issuing_date_to)
    if filters.amount_from is not None:
        stmt = stmt.where(CreditNote.total_amount_cents >= filters.amount_from)
    if filters.amount_to is not None:
        stmt = stmt.where(CreditNote.total_amount_cents <= filters.amount_to)
    return stmt.order_by(CreditNote.created_at.desc(), CreditNote.sequential_id.desc(), CreditNote.id)
