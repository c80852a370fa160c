"""The Invoice object of Lago's wire, and what ``PUT /invoices/{id}`` accepts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.wire import CurrencyCode, WireIn, dump, iso_utc
from billow.credit_notes import repository as credit_notes
from billow.customers.schemas import CustomerOut
from billow.fees.schemas import fee_json
from billow.invoices import repository
from billow.invoices.applied_thresholds import applied_thresholds_json
from billow.invoices.credits import credits_json
from billow.models import Credit, Fee, Invoice, InvoiceSubscription, Subscription
from billow.models.invoice import PAYMENT_STATUSES, STATUSES
from billow.pricing.periods import local_date
from billow.subscriptions import service as subscriptions
from billow.subscriptions.schemas import IsoInstant

__all__ = ["PAYMENT_STATUSES", "STATUSES", "InvoiceFilterParams", "InvoiceUpdate", "OneOffCreate", "OneOffFeeIn",
           "PreviewIn", "PreviewSubscriptions", "invoice_json", "invoices_json"]


class MetadataIn(BaseModel):
    id: str | None = None
    key: str = Field(max_length=255)
    value: str | None = Field(default=None, max_length=255)


class InvoiceUpdate(BaseModel):
    payment_status: Literal["pending", "succeeded", "failed"] | None = None
    metadata: list[dict[str, Any]] | None = None

    def model_post_init(self, _context: Any) -> None:
        if self.metadata is not None:
            self.metadata = [MetadataIn.model_validate(item).model_dump() for item in self.metadata]


class OneOffFeeIn(WireIn):
    """One line of ``POST /invoices``: an add-on, its units (1 by default) and unit price (the
    add-on's by default), and what the line shows."""

    add_on_code: str = Field(min_length=1)
    units: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    unit_amount_cents: int | None = Field(default=None, ge=0, le=2**63 - 1)
    description: str | None = None
    invoice_display_name: str | None = Field(default=None, max_length=255)
    from_datetime: IsoInstant | None = None
    to_datetime: IsoInstant | None = None
    tax_codes: list[str] | None = None


class OneOffCreate(WireIn):
    """``POST /invoices`` (root ``invoice``): a one-off invoice of add-ons."""

    external_customer_id: str = Field(min_length=1)
    currency: CurrencyCode | None = None
    fees: list[OneOffFeeIn] = []


class PreviewSubscriptions(WireIn):
    external_ids: list[str] = Field(min_length=1)
    plan_code: str | None = None
    terminated_at: IsoInstant | None = None


class PreviewCoupon(WireIn):
    """A coupon given inline to a preview: an existing coupon by its code, else one made of these
    values (a fixed amount, used once, by default)."""

    code: str = Field(min_length=1)
    name: str | None = None
    coupon_type: Literal["fixed_amount", "percentage"] | None = None
    amount_cents: int | None = None
    amount_currency: CurrencyCode | None = None
    percentage_rate: Decimal | None = None
    frequency: Literal["once", "recurring", "forever"] | None = None
    frequency_duration: int | None = None


class PreviewIn(WireIn):
    """``POST /invoices/preview`` (top-level keys): a customer (known by ``external_id`` or given
    inline) and either a plan to subscribe to or some of its subscriptions."""

    customer: dict[str, Any]
    plan_code: str | None = None
    subscription_at: IsoInstant | None = None
    billing_time: Literal["calendar", "anniversary"] = "calendar"
    coupons: list[PreviewCoupon] = []
    subscriptions: PreviewSubscriptions | None = None


class InvoiceFilterParams(BaseModel):
    external_customer_id: str | None = None
    statuses: list[Literal["draft", "finalized", "voided"]] = []
    payment_statuses: list[Literal["pending", "succeeded", "failed"]] = []
    invoice_type: str | None = None
    currency: str | None = None
    issuing_date_from: date | None = None
    issuing_date_to: date | None = None


def _billing_period(link: InvoiceSubscription, subscription: Subscription) -> dict[str, Any]:
    return {
        "lago_subscription_id": str(subscription.id),
        "external_subscription_id": subscription.external_id,
        "lago_plan_id": str(subscription.plan_id),
        "subscription_from_datetime": iso_utc(link.from_datetime),
        "subscription_to_datetime": iso_utc(link.to_datetime),
        "charges_from_datetime": iso_utc(link.charges_from_datetime),
        "charges_to_datetime": iso_utc(link.charges_to_datetime),
        "invoicing_reason": link.invoicing_reason,
    }


@dataclass
class _Known:
    """What :func:`invoices_json` read ahead for a run of invoices, by invoice id."""

    links: dict[uuid.UUID, list[InvoiceSubscription]] = field(default_factory=dict)
    fees: dict[uuid.UUID, list[Fee]] = field(default_factory=dict)
    offsets: dict[uuid.UUID, int] = field(default_factory=dict)
    with_credits: set[uuid.UUID] = field(default_factory=set)


def _fees(session: Session, invoice: Invoice, subscriptions_by_id: dict[Any, Subscription],
          known: _Known | None = None) -> list[dict[str, Any]]:
    fees = repository.fees_of(session, invoice.id) if known is None else known.fees.get(invoice.id, [])
    true_ups = {fee.true_up_parent_fee_id: fee.id for fee in fees if fee.true_up_parent_fee_id}
    return [fee_json(fee, invoice, invoice.customer, subscriptions_by_id.get(fee.subscription_id), true_ups.get(fee.id))
            for fee in fees]


def invoices_json(session: Session, invoices: Sequence[Invoice]) -> Iterator[dict[str, Any]]:
    """:func:`invoice_json` of many invoices (a billing run's), their periods, fees, credit-note
    offsets and credits read for all of them at once, and their subscriptions' terms once a plan
    version."""
    ids = [invoice.id for invoice in invoices]
    known = _Known()
    for link in session.scalars(select(InvoiceSubscription).where(InvoiceSubscription.invoice_id.in_(ids))
                                .order_by(InvoiceSubscription.created_at, InvoiceSubscription.from_datetime,
                                          InvoiceSubscription.id)):
        known.links.setdefault(link.invoice_id, []).append(link)
    for fee in session.scalars(select(Fee).where(Fee.invoice_id.in_(ids)).order_by(Fee.position, Fee.id)):
        known.fees.setdefault(fee.invoice_id, []).append(fee)
    known.offsets = credit_notes.offsets_cents(session, ids)
    known.with_credits = set(session.scalars(select(Credit.invoice_id).where(Credit.invoice_id.in_(ids))))
    with subscriptions.terms_remembered(session):
        for invoice in invoices:
            yield invoice_json(session, invoice, known=known)


def invoice_json(session: Session, invoice: Invoice, *, full: bool = True, known: _Known | None = None) -> dict[str, Any]:
    """The invoice as Lago serializes it; ``full`` adds customer, periods, subscriptions and fees."""
    customer = invoice.customer
    today = local_date(clock.now(), customer.applicable_timezone)
    pending = invoice.status == "finalized" and invoice.payment_status != "succeeded"
    offsets = credit_notes.offset_cents(session, invoice.id) if known is None else known.offsets.get(invoice.id, 0)
    body: dict[str, Any] = {
        "lago_id": str(invoice.id),
        "billing_entity_code": None,
        "sequential_id": invoice.sequential_id,
        "number": invoice.number,
        "issuing_date": invoice.issuing_date.isoformat(),
        "payment_dispute_lost_at": None,
        "payment_due_date": invoice.payment_due_date.isoformat(),
        "payment_overdue": pending and invoice.payment_due_date < today,
        "net_payment_term": invoice.net_payment_term,
        "invoice_type": invoice.invoice_type,
        "status": invoice.status,
        "payment_status": invoice.payment_status,
        "currency": invoice.currency,
        "fees_amount_cents": invoice.fees_amount_cents,
        "coupons_amount_cents": invoice.coupons_amount_cents,
        "credit_notes_amount_cents": invoice.credit_notes_amount_cents,
        "sub_total_excluding_taxes_amount_cents": invoice.sub_total_excluding_taxes_amount_cents,
        "taxes_amount_cents": invoice.taxes_amount_cents,
        "sub_total_including_taxes_amount_cents": invoice.sub_total_including_taxes_amount_cents,
        "prepaid_credit_amount_cents": invoice.prepaid_credit_amount_cents,
        "prepaid_granted_credit_amount_cents": 0,
        "prepaid_purchased_credit_amount_cents": 0,
        "progressive_billing_credit_amount_cents": invoice.progressive_billing_credit_amount_cents,
        "total_amount_cents": invoice.total_amount_cents,
        "total_due_amount_cents": max(0, invoice.total_amount_cents - offsets) if pending else 0,
        "total_paid_amount_cents": invoice.total_amount_cents if invoice.payment_status == "succeeded" else 0,
        "total_offsetted_credit_note_amount_cents": offsets,
        "version_number": 4,
        "self_billed": False,
        "file_url": invoice.file_url,
        "web_url": None,
        "xml_url": None,
        "purchase_order_number": None,
        "voided_at": iso_utc(invoice.voided_at) if invoice.voided_at else None,
        "created_at": iso_utc(invoice.created_at),
        "updated_at": iso_utc(invoice.updated_at),
        "metadata": invoice.invoice_metadata,
        "applied_taxes": [{**tax, "lago_invoice_id": str(invoice.id)} for tax in invoice.applied_taxes],
        "applied_invoice_custom_sections": [],
        "applied_usage_thresholds": applied_thresholds_json(session, invoice),
        "error_details": [],
    }
    if not full:
        return body
    links = repository.links(session, invoice.id) if known is None else known.links.get(invoice.id, [])
    subscriptions_by_id = {link.subscription_id: session.get_one(Subscription, link.subscription_id) for link in links}
    body.update(
        customer=dump(CustomerOut, customer),
        billing_periods=[_billing_period(link, subscriptions_by_id[link.subscription_id]) for link in links],
        subscriptions=[subscriptions.wire(session, s, with_plan=False) for s in subscriptions_by_id.values()],
        fees=_fees(session, invoice, subscriptions_by_id, known),
        credits=credits_json(session, invoice) if known is None or invoice.id in known.with_credits else [],
    )
    return body
