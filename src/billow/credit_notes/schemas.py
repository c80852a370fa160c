"""The CreditNote objects of Lago's wire, and what the credit note endpoints accept."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from billow.core.wire import WireIn, dump, iso_utc
from billow.customers.schemas import CustomerOut
from billow.fees.schemas import fee_json
from billow.models import CreditNote, Subscription
from billow.pricing.credit_notes import CreditNoteTotals

Reason = Literal["duplicated_charge", "product_unsatisfactory", "order_change", "order_cancellation",
                 "fraudulent_charge", "other"]
CreditStatus = Literal["available", "consumed", "voided"]
RefundStatus = Literal["pending", "succeeded", "failed"]
MAX_CENTS = 2**63 - 1


class ItemIn(WireIn):
    fee_id: uuid.UUID
    amount_cents: int = Field(ge=0, le=MAX_CENTS)


class CreditNoteEstimateIn(WireIn):
    invoice_id: str = Field(min_length=1)
    items: list[ItemIn] = Field(min_length=1)


class CreditNoteCreate(CreditNoteEstimateIn):
    reason: Reason = "other"
    description: str | None = None
    credit_amount_cents: int = Field(default=0, ge=0, le=MAX_CENTS)
    refund_amount_cents: int = Field(default=0, ge=0, le=MAX_CENTS)
    offset_amount_cents: int = Field(default=0, ge=0, le=MAX_CENTS)
    metadata: dict[str, str | None] | None = None


class CreditNoteUpdate(WireIn):
    refund_status: RefundStatus | None = None
    metadata: dict[str, str | None] | None = None


class CreditNoteFilterParams(WireIn):
    external_customer_id: str | None = None
    issuing_date_from: date | None = None
    issuing_date_to: date | None = None
    search_term: str | None = None
    currency: str | None = None
    reason: Reason | None = None
    credit_status: CreditStatus | None = None
    refund_status: RefundStatus | None = None
    invoice_number: str | None = None
    amount_from: int | None = None
    amount_to: int | None = None


def _applied_tax(tax: dict[str, Any], note: CreditNote) -> dict[str, Any]:
    return {**tax, "lago_credit_note_id": str(note.id), "created_at": iso_utc(note.created_at)}


def credit_note_json(session: Session, note: CreditNote) -> dict[str, Any]:
    """The credit note as Lago serializes it, with its items (and their fees) and customer."""
    invoice, customer = note.invoice, note.customer
    items = []
    for item in note.items:
        fee = item.fee
        subscription = session.get(Subscription, fee.subscription_id) if fee.subscription_id else None
        items.append({"lago_id": str(item.id), "amount_cents": item.amount_cents,
                      "amount_currency": item.amount_currency, "fee": fee_json(fee, invoice, customer, subscription)})
    return {
        "lago_id": str(note.id),
        "billing_entity_code": None,
        "sequential_id": note.sequential_id,
        "number": note.number,
        "lago_invoice_id": str(invoice.id),
        "invoice_number": invoice.number,
        "issuing_date": note.issuing_date.isoformat(),
        "credit_status": note.credit_status,
        "refund_status": note.refund_status,
        "reason": note.reason,
        "description": note.description,
        "currency": note.currency,
        "total_amount_cents": note.total_amount_cents,
        "taxes_amount_cents": note.taxes_amount_cents,
        "taxes_rate": float(note.taxes_rate),
        "sub_total_excluding_taxes_amount_cents": note.sub_total_excluding_taxes_amount_cents,
        "balance_amount_cents": note.balance_amount_cents,
        "credit_amount_cents": note.credit_amount_cents,
        "refund_amount_cents": note.refund_amount_cents,
        "offset_amount_cents": note.offset_amount_cents,
        "coupons_adjustment_amount_cents": note.coupons_adjustment_amount_cents,
        "purchase_order_number": None,
        "self_billed": False,
        "file_url": note.file_url,
        "error_details": [],
        "created_at": iso_utc(note.created_at),
        "updated_at": iso_utc(note.updated_at),
        "voided_at": iso_utc(note.voided_at) if note.voided_at else None,
        "refunded_at": iso_utc(note.refunded_at) if note.refunded_at else None,
        "items": items,
        "applied_taxes": [_applied_tax(tax, note) for tax in note.applied_taxes],
        "customer": dump(CustomerOut, customer),
        "metadata": note.credit_note_metadata,
    }


def estimate_json(invoice_id: uuid.UUID, invoice_number: str, currency: str, totals: CreditNoteTotals,
                  items: list[dict[str, Any]], applied_taxes: list[dict[str, Any]],
                  limits: tuple[int, int, int]) -> dict[str, Any]:
    creditable, refundable, offsettable = limits
    return {
        "lago_invoice_id": str(invoice_id),
        "invoice_number": invoice_number,
        "currency": currency,
        "taxes_amount_cents": totals.taxes_amount_cents,
        "precise_taxes_amount_cents": float(totals.precise_taxes_amount_cents),
        "taxes_rate": float(totals.taxes_rate),
        "sub_total_excluding_taxes_amount_cents": totals.sub_total_excluding_taxes_amount_cents,
        "max_creditable_amount_cents": creditable,
        "max_refundable_amount_cents": refundable,
        "max_offsettable_amount_cents": offsettable,
        "coupons_adjustment_amount_cents": totals.coupons_adjustment_amount_cents,
        "precise_coupons_adjustment_amount_cents": float(totals.precise_coupons_adjustment_amount_cents),
        "items": items,
        "applied_taxes": applied_taxes,
    }
