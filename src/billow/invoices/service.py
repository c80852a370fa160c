"""Invoice rules: issuing (draft or finalized), refresh, finalization and numbering, voiding,
payment status and metadata. Nothing here commits.

An invoice's charge fees are recomputed by :func:`recompute` from the subscription periods it
bills (``invoice_subscriptions``) with :func:`billow.invoices.builder.charge_fee_rows`, the same
call that priced them when the invoice was issued; a draft is recomputed on refresh and when it
is finalized, so late events within the grace period reach it.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.db import Database
from billow.core.errors import NotAllowed, NotFound
from billow.documents import tasks as documents
from billow.invoices import builder, credits, repository
from billow.invoices.schemas import InvoiceUpdate, invoice_json, invoices_json
from billow.models import Customer, Fee, Invoice, InvoiceSubscription, Organization, Subscription, Tax
from billow.pricing.periods import local_date, start_of_local_day
from billow.webhooks import repository as webhook_endpoints
from billow.webhooks import service as webhooks

log = logging.getLogger("billow.billing")


def grace_period_days(customer: Customer) -> int:
    if customer.invoice_grace_period is not None:
        return customer.invoice_grace_period
    return customer.organization.invoice_grace_period


def invoice_row(customer: Customer, currency: str, issuing_date: date, invoice_type: str = "subscription",
                make: Callable[..., Any] = Invoice) -> Invoice:
    """A new draft invoice of ``customer`` (not added to any session), built by ``make`` (the
    mapped class, or a billing chunk's plain row: :mod:`billow.invoices.rows`)."""
    organization = customer.organization
    term = customer.net_payment_term if customer.net_payment_term is not None else organization.net_payment_term
    grace = grace_period_days(customer)
    return make(
        id=uuid.uuid4(), organization_id=customer.organization_id, customer_id=customer.id,
        number=f"{document_prefix(organization)}-DRAFT", status="draft", payment_status="pending",
        invoice_type=invoice_type, currency=currency, issuing_date=issuing_date,
        payment_due_date=issuing_date + timedelta(days=term), net_payment_term=term,
        grace_period_ends_at=start_of_local_day(issuing_date + timedelta(days=grace), customer.applicable_timezone)
        if grace else None,
    )


def new_invoice(session: Session, customer: Customer, currency: str, issuing_date: date,
                invoice_type: str = "subscription") -> Invoice:
    invoice = invoice_row(customer, currency, issuing_date, invoice_type)
    session.add(invoice)
    session.flush()
    return invoice


# Set in ``session.info`` while an invoice preview is built: invoices are left unpriced for the
# preview to price them once, as finalization would, and are neither numbered nor announced.
PREVIEW = "billow.invoice_preview"

# Each subscription an invoice bills, with the period it bills there.
Members = list[tuple[Subscription, InvoiceSubscription]]


def issue(session: Session, invoice: Invoice, at: datetime, members: Members | None = None,
          fees: list[Fee] | None = None) -> None:
    """Price a new invoice: a draft during the customer's grace period, else finalized now.

    ``members`` (each subscription with the period it bills here) and ``fees`` (its subscription
    fees, already added) spare reading back what the caller has just written."""
    if session.info.get(PREVIEW):
        return
    draft = invoice.grace_period_ends_at is not None and invoice.grace_period_ends_at > at
    if members is None:
        recompute(session, invoice, finalize=not draft)
    else:
        price(session, invoice, members, list(fees or ()), finalize=not draft)
    if draft:
        _announce(session, invoice, "invoice.drafted")
    else:
        close(session, invoice, at)
        _announce(session, invoice, "invoice.created")


# What a refresh prices again: usage and what depends on it.
RECOMPUTED = ("charge", "commitment")
IN_ADVANCE_CHARGE = "in_advance_charge"


def _recomputed(fee: Fee) -> bool:
    """Usage fees are priced again; a pay-in-advance charge's fee was priced once, for its event."""
    return fee.fee_type in RECOMPUTED and fee.pay_in_advance_event_id is None


def _bills_usage(link: InvoiceSubscription) -> bool:
    """A starting invoice bills no usage, nor does the invoice of one pay-in-advance charge event."""
    return link.charges_from_datetime != link.charges_to_datetime and link.invoicing_reason != IN_ADVANCE_CHARGE


def recompute(session: Session, invoice: Invoice, *, finalize: bool) -> None:
    """Charge fees priced again from the invoice's periods, the minimum-commitment true-up of a
    plan period the invoice closes, then every total."""
    fees = list(repository.fees_of(session, invoice.id))
    for fee in fees:
        if _recomputed(fee):
            session.delete(fee)
    kept = [fee for fee in fees if not _recomputed(fee)]
    session.flush()
    members = []
    for link in repository.links(session, invoice.id):
        subscription = repository.subscription(session, link.subscription_id)
        assert subscription is not None
        members.append((subscription, link))
    price(session, invoice, members, kept, finalize=finalize)


def price(session: Session, invoice: Invoice, members: Members, kept: list[Fee], *, finalize: bool,
          names: dict[str, Tax] | None = None, spent: credits.CreditInputs | None = None,
          flush: bool = True) -> None:
    """The usage fees of each member's period, its commitment true-up, then every total of the
    invoice, ``kept`` being its fees that are not priced again. ``names`` (the organization's
    taxes) and ``spent`` (what the customer may spend) may come from the caller (a billing chunk
    reads them once, ``spent`` then taken as is: see :func:`builder.apply_totals`), and a chunk
    flushes once for all its invoices (``flush=False``)."""
    books = {}
    for subscription, link in members:
        books[subscription.id] = builder.tax_book(session, subscription, subscription.customer, names)
        if _bills_usage(link):
            kept.extend(builder.charge_fee_rows(session, invoice, subscription, link.charges_to_datetime))
        session.add_all(kept)
        if builder.closes_plan_period(session, subscription, link, kept):
            true_up = builder.commitment_fee_row(session, invoice, subscription, link)
            if true_up is not None:
                true_up.position = len(kept) + 1
                kept.append(true_up)
    session.add_all(kept)
    builder.apply_totals(invoice, kept, books, finalize=finalize, spent=spent)
    if flush:
        session.flush()


def document_prefix(organization: Organization) -> str:
    """The organization's prefix, else Lago's default: 3 letters of the name and 4 of the id."""
    if organization.document_number_prefix:
        return organization.document_number_prefix
    letters = re.sub(r"[^A-Za-z]", "", organization.name)[:3].upper() or "INV"
    return f"{letters}-{organization.id.hex[-4:].upper()}"


def _number(session: Session, invoice: Invoice, at: datetime) -> None:
    """Give the next sequences and the number, under the organization's lock (one at a time)."""
    repository.lock_numbering(session, invoice.organization_id)
    customer_seq, organization_seq = repository.highest_numbers(session, invoice.organization_id,
                                                                 invoice.customer_id)
    _numbered(invoice, customer_seq + 1, organization_seq + 1, at)


def number_all(session: Session, invoices: list[Invoice], at: datetime) -> None:
    """Number these new invoices of one organization in this order, as :func:`_number` would one
    after the other, under one lock and with one read of the sequences."""
    if not invoices:
        return
    organization_id = invoices[0].organization_id
    repository.lock_numbering(session, organization_id)
    customers, organization_seq = repository.highest_numbers_of(
        session, organization_id, {invoice.customer_id for invoice in invoices})
    for invoice in invoices:
        assert invoice.organization_id == organization_id
        organization_seq += 1
        customers[invoice.customer_id] = customers.get(invoice.customer_id, 0) + 1
        _numbered(invoice, customers[invoice.customer_id], organization_seq, at)


def _numbered(invoice: Invoice, customer_seq: int, organization_seq: int, at: datetime) -> None:
    organization = invoice.customer.organization
    invoice.sequential_id, invoice.organization_sequential_id = customer_seq, organization_seq
    prefix = document_prefix(organization)
    if organization.document_numbering == "per_organization":
        month = local_date(at, organization.timezone).strftime("%Y%m")
        invoice.number = f"{prefix}-{month}-{invoice.organization_sequential_id:03d}"
    else:
        invoice.number = f"{prefix}-{invoice.customer.sequential_id:03d}-{invoice.sequential_id:03d}"


def _finalize(session: Session, invoice: Invoice, at: datetime) -> None:
    recompute(session, invoice, finalize=True)
    close(session, invoice, at)
    _announce(session, invoice, "invoice.created")


def close(session: Session, invoice: Invoice, at: datetime) -> None:
    """Finalize a priced invoice: its number, status and payment status (nothing to pay is paid)."""
    _number(session, invoice, at)
    finalized(invoice, at)
    session.flush()
    documents.enqueue_invoice(session, invoice.id)


def finalized(invoice: Invoice, at: datetime) -> None:
    """The status and payment status of a priced and numbered invoice (nothing to pay is paid)."""
    invoice.status, invoice.finalized_at = "finalized", at
    invoice.payment_status = "succeeded" if invoice.total_amount_cents == 0 else "pending"


def announce_all(session: Session, invoices: list[Invoice], webhook_type: str) -> None:
    """:func:`announce` for each invoice of one organization, its endpoints read once."""
    if not invoices:
        return
    organization_id = invoices[0].organization_id
    endpoints = webhook_endpoints.endpoints_for(session, organization_id)
    if any(webhooks.listens(endpoint, webhook_type) for endpoint in endpoints):
        webhooks.emit_many(session, organization_id, webhook_type, "invoice", invoices_json(session, invoices),
                           endpoints_of=endpoints)


def announce(session: Session, invoice: Invoice, webhook_type: str) -> None:
    _announce(session, invoice, webhook_type)


def _announce(session: Session, invoice: Invoice, webhook_type: str) -> None:
    """The webhook, with the invoice serialized only if an endpoint of the organization takes it."""
    if _listens(session, invoice.organization_id, webhook_type):
        webhooks.emit(session, invoice.organization_id, webhook_type, "invoice", invoice_json(session, invoice))


def _listens(session: Session, organization_id: uuid.UUID, webhook_type: str) -> bool:
    return any(endpoint.event_types is None or webhook_type in endpoint.event_types
               for endpoint in webhook_endpoints.endpoints_for(session, organization_id))


def _draft(session: Session, organization: Organization, lago_id: str) -> Invoice:
    invoice = repository.get(session, organization.id, lago_id, for_update=True)
    if invoice.status != "draft":
        raise NotFound("invoice")  # Lago answers 404 for an invoice that is not a draft
    return invoice


def finalize(session: Session, organization: Organization, lago_id: str) -> Invoice:
    invoice = _draft(session, organization, lago_id)
    _finalize(session, invoice, clock.now())
    return invoice


def refresh(session: Session, organization: Organization, lago_id: str) -> Invoice:
    invoice = _draft(session, organization, lago_id)
    recompute(session, invoice, finalize=False)
    return invoice


def retry(session: Session, organization: Organization, lago_id: str) -> Invoice:
    """Generate again an invoice whose generation failed. Only a tax provider's error makes an
    invoice ``failed`` in Lago; Billow computes taxes itself, so no invoice is ever in that status
    and every other one is refused as Lago refuses it."""
    invoice = repository.get(session, organization.id, lago_id, for_update=True)
    if invoice.status != "failed":
        raise NotAllowed("invalid_status")
    return invoice


def retry_payment(session: Session, organization: Organization, lago_id: str) -> None:
    """Collect the invoice again: refused for drafts, voided and paid invoices; otherwise there is
    no payment provider to hand it to, and the invoice stays as it is."""
    invoice = repository.get(session, organization.id, lago_id)
    if invoice.status in ("draft", "voided") or invoice.payment_status == "succeeded":
        raise NotAllowed("invalid_status")


def void(session: Session, organization: Organization, lago_id: str) -> Invoice:
    invoice = repository.get(session, organization.id, lago_id, for_update=True)
    if invoice.status != "finalized" or repository.has_live_credit_notes(session, invoice.id):
        raise NotAllowed("not_voidable")  # as Lago: an invoice with credit notes not voided stays
    invoice.status, invoice.voided_at = "voided", clock.now()
    credits.recredit(session, invoice)
    session.flush()
    _announce(session, invoice, "invoice.voided")
    return invoice


def update(session: Session, organization: Organization, lago_id: str, data: InvoiceUpdate) -> Invoice:
    invoice = repository.get(session, organization.id, lago_id, for_update=True)
    if invoice.status == "voided":
        raise NotAllowed("update_on_voided_invoice")
    if data.metadata is not None:
        invoice.invoice_metadata = _metadata(invoice.invoice_metadata, data.metadata)
    changed = data.payment_status is not None and data.payment_status != invoice.payment_status
    if data.payment_status is not None:
        invoice.payment_status = data.payment_status
        invoice.payment_status_changed_at = clock.now()
    session.flush()
    if changed:
        _announce(session, invoice, "invoice.payment_status_updated")
    return invoice


def _metadata(current: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lago's metadata update: items with an id change that entry, others are added; the list
    becomes exactly what was sent."""
    known = {entry["lago_id"]: entry for entry in current}
    now = clock.now().isoformat().replace("+00:00", "Z")
    result = []
    for item in items:
        entry = known.get(str(item.get("id"))) or {"lago_id": str(uuid.uuid4()), "created_at": now}
        result.append({**entry, "key": item["key"], "value": item["value"]})
    return result


def refresh_drafts(database: Database, at: datetime, organization_id: uuid.UUID | None = None) -> int:
    """Price again every draft still in its grace period, so late events reach it before it is
    finalized; each in its own transaction. Returns how many were refreshed."""
    with database.unit_of_work(write=False) as session:
        drafts = repository.drafts_in_grace(session, at, organization_id)
    return reprice_drafts(database, drafts)


def reprice_drafts(database: Database, invoice_ids: list[uuid.UUID]) -> int:
    """Price again those invoices that are still drafts, each in its own transaction."""
    for invoice_id in invoice_ids:
        with database.unit_of_work() as session:
            invoice = session.get(Invoice, invoice_id, with_for_update=True)
            if invoice is not None and invoice.status == "draft":
                recompute(session, invoice, finalize=False)
    return len(invoice_ids)


def finalize_due_drafts(database: Database, at: datetime, organization_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """Finalize every draft whose grace period ended by ``at``, each in its own transaction."""
    with database.unit_of_work(write=False) as session:
        due = repository.drafts_due(session, at, organization_id)
    done = []
    for invoice_id in due:
        with database.unit_of_work() as session:
            invoice = session.get(Invoice, invoice_id, with_for_update=True)
            if invoice is None or invoice.status != "draft":
                continue
            _finalize(session, invoice, at)
            done.append(invoice_id)
    return done
