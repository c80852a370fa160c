"""Invoice queries (no rules)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, any_, bindparam, exists, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, defer, joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from billow.core.repository import get_or_404, parse_uuid
from billow.models import (
    CreditNote,
    Customer,
    Fee,
    Invoice,
    InvoiceSubscription,
    Organization,
    Plan,
    Subscription,
    Tax,
)
from billow.models.customer import customer_taxes


def among(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(array)``, one parameter however many the
    values: the same statement text each time (SQLAlchemy and psycopg prepare it once, where an IN
    list of a hundred parameters is rendered and parsed again on every call)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


def lock_numbering(session: Session, organization_id: uuid.UUID) -> None:
    """Serialise number allocation per organization (a row lock on PostgreSQL; SQLite writers
    already queue). ``FOR NO KEY UPDATE`` does not wait for the key-share locks that foreign keys
    of rows being inserted take on the organization, so a billing transaction holding one cannot
    deadlock with another waiting for it."""
    session.execute(select(Organization.id).where(Organization.id == organization_id)
                    .with_for_update(key_share=True))


def lock_customers(session: Session, customer_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """Lock these customers as finalizing an invoice locks its customer, in id order; their
    ``updated_at`` as they are now."""
    return dict(session.execute(  # type: ignore[arg-type]
        select(Customer.id, Customer.updated_at).where(among(session, Customer.id, customer_ids))
        .order_by(Customer.id).with_for_update(key_share=True)).all())


def has_live_credit_notes(session: Session, invoice_id: uuid.UUID) -> bool:
    """Whether the invoice has a credit note whose credit is available or consumed (not voided)."""
    return bool(session.scalar(select(exists().where(CreditNote.invoice_id == invoice_id,
                                                     CreditNote.credit_status.in_(("available", "consumed"))))))


def subscription(session: Session, subscription_id: uuid.UUID) -> Subscription | None:
    """A subscription with its plan and customer rows only (the plan's pricing comes from its
    version snapshot: nothing of the catalog is loaded through the plan)."""
    return session.scalar(select(Subscription).where(Subscription.id == subscription_id).options(
        joinedload(Subscription.plan).lazyload("*"),
        joinedload(Subscription.customer).options(joinedload(Customer.organization).lazyload("*"), lazyload("*"))))


def subscriptions(session: Session, subscription_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Subscription]:
    """:func:`subscription` for many, in one query, with each customer's taxes (read by a second
    one, rows only for the customers that have any); the JSON columns billing does not read are
    left for later (decoding them is most of the load)."""
    rows = session.scalars(select(Subscription).where(among(session, Subscription.id, subscription_ids)).options(
        joinedload(Subscription.plan).options(defer(Plan.metadata_), lazyload("*")),
        joinedload(Subscription.customer).options(
            defer(Customer.provider_payment_methods), defer(Customer.integration_customers),
            defer(Customer.invoice_custom_section_codes),
            joinedload(Customer.organization).options(defer(Organization.email_settings), lazyload("*")),
            lazyload("*"))))
    found = {row.id: row for row in rows}
    customers = {row.customer_id: row.customer for row in found.values() if "taxes" not in row.customer.__dict__}
    if customers:
        taxes: dict[uuid.UUID, list[Tax]] = {customer_id: [] for customer_id in customers}
        for customer_id, tax in session.execute(
                select(customer_taxes.c.customer_id, Tax).join(Tax, Tax.id == customer_taxes.c.tax_id)
                .where(among(session, customer_taxes.c.customer_id, customers)).order_by(Tax.code)):
            taxes[customer_id].append(tax)
        for customer_id, customer in customers.items():  # as Customer.taxes loads them: ordered by code
            set_committed_value(customer, "taxes", taxes[customer_id])
    return found


BilledKey = tuple[str, datetime, datetime]


def billed_keys_of(session: Session, subscription_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, set[BilledKey]]:
    """:func:`billed_keys` of many subscriptions (those billed yet), in one query."""
    rows = session.execute(select(InvoiceSubscription.subscription_id, InvoiceSubscription.invoicing_reason,
                                  InvoiceSubscription.charges_from_datetime, InvoiceSubscription.charges_to_datetime)
                           .where(among(session, InvoiceSubscription.subscription_id, subscription_ids)))
    found: dict[uuid.UUID, set[BilledKey]] = {}
    for subscription_id, reason, start, stop in rows:
        found.setdefault(subscription_id, set()).add((reason, start, stop))
    return found


def with_subscription_fee(session: Session, subscription_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these subscriptions billed a subscription fee yet (:func:`has_subscription_fee`)."""
    return set(session.scalars(select(Fee.subscription_id).where(
        among(session, Fee.subscription_id, subscription_ids), Fee.fee_type == "subscription").distinct()))


def replaced(session: Session, subscription_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these subscriptions that another one follows (a plan change)."""
    return set(session.scalars(select(Subscription.previous_subscription_id).where(
        among(session, Subscription.previous_subscription_id, subscription_ids))))


def billed_keys(session: Session, subscription_id: uuid.UUID) -> set[tuple[str, datetime, datetime]]:
    rows = session.execute(select(InvoiceSubscription.invoicing_reason, InvoiceSubscription.charges_from_datetime,
                                  InvoiceSubscription.charges_to_datetime)
                           .where(InvoiceSubscription.subscription_id == subscription_id))
    return {(reason, start, stop) for reason, start, stop in rows}


def has_invoice(session: Session, subscription_id: uuid.UUID) -> bool:
    return bool(session.scalar(select(exists().where(InvoiceSubscription.subscription_id == subscription_id))))


def has_subscription_fee(session: Session, subscription_id: uuid.UUID) -> bool:
    return bool(session.scalar(select(exists().where(Fee.subscription_id == subscription_id,
                                                     Fee.fee_type == "subscription"))))


def period_fees_cents(session: Session, subscription_id: uuid.UUID, start: datetime, stop: datetime) -> list[int]:
    """The subscription's fees (subscription and usage) of a plan period, on invoices not voided
    (progressive invoices left out: the period's own invoice bills all its usage again)."""
    return list(session.scalars(select(Fee.amount_cents).join(Invoice, Invoice.id == Fee.invoice_id).where(
        Fee.subscription_id == subscription_id, Fee.fee_type.in_(("subscription", "charge")),
        Fee.from_datetime >= start, Fee.to_datetime <= stop, Invoice.status != "voided",
        Invoice.invoice_type != "progressive_billing")))


def links(session: Session, invoice_id: uuid.UUID) -> Sequence[InvoiceSubscription]:
    """The periods an invoice bills; on a plan change's invoice the old plan's period comes first."""
    return session.scalars(select(InvoiceSubscription).where(InvoiceSubscription.invoice_id == invoice_id)
                           .order_by(InvoiceSubscription.created_at, InvoiceSubscription.from_datetime,
                                     InvoiceSubscription.id)).all()


def fees_of(session: Session, invoice_id: uuid.UUID) -> Sequence[Fee]:
    return session.scalars(select(Fee).where(Fee.invoice_id == invoice_id).order_by(Fee.position, Fee.id)).all()


def get(session: Session, organization_id: uuid.UUID, lago_id: str, *, for_update: bool = False) -> Invoice:
    return get_or_404(session, Invoice, organization_id, "invoice", for_update=for_update,
                      id=parse_uuid(lago_id, "invoice"))


def highest_numbers(session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID) -> tuple[int, int]:
    """The customer's and the organization's highest invoice sequences so far (0 without any)."""
    customer = session.scalar(select(func.max(Invoice.sequential_id)).where(Invoice.customer_id == customer_id))
    organization = session.scalar(select(func.max(Invoice.organization_sequential_id))
                                  .where(Invoice.organization_id == organization_id))
    return customer or 0, organization or 0


def highest_numbers_of(session: Session, organization_id: uuid.UUID,
                       customer_ids: Collection[uuid.UUID]) -> tuple[dict[uuid.UUID, int], int]:
    """:func:`highest_numbers` of several customers at once: theirs (those with invoices) and the
    organization's."""
    rows = session.execute(select(Invoice.customer_id, func.max(Invoice.sequential_id))
                           .where(among(session, Invoice.customer_id, customer_ids)).group_by(Invoice.customer_id))
    customers = {customer_id: highest for customer_id, highest in rows if highest is not None}
    organization = session.scalar(select(func.max(Invoice.organization_sequential_id))
                                  .where(Invoice.organization_id == organization_id))
    return customers, organization or 0


def drafts_in_grace(session: Session, at: datetime, organization_id: uuid.UUID | None) -> list[uuid.UUID]:
    stmt = select(Invoice.id).where(Invoice.status == "draft", Invoice.grace_period_ends_at > at)
    if organization_id is not None:
        stmt = stmt.where(Invoice.organization_id == organization_id)
    return list(session.scalars(stmt.order_by(Invoice.grace_period_ends_at, Invoice.id)))


def drafts_due(session: Session, at: datetime, organization_id: uuid.UUID | None) -> list[uuid.UUID]:
    stmt = select(Invoice.id).where(Invoice.status == "draft", Invoice.grace_period_ends_at <= at)
    if organization_id is not None:
        stmt = stmt.where(Invoice.organization_id == organization_id)
    return list(session.scalars(stmt.order_by(Invoice.grace_period_ends_at, Invoice.id)))


@dataclass(frozen=True)
class InvoiceFilters:
    external_customer_id: str | None = None
    statuses: tuple[str, ...] = ()
    payment_statuses: tuple[str, ...] = ()
    invoice_type: str | None = None
    currency: str | None = None
    issuing_date_from: date | None = None
    issuing_date_to: date | None = None


def list_query(organization_id: uuid.UUID, filters: InvoiceFilters) -> Select[tuple[Invoice]]:
    stmt = select(Invoice).where(Invoice.organization_id == organization_id)
    if filters.external_customer_id:
        stmt = stmt.join(Customer, Customer.id == Invoice.customer_id).where(
            Customer.external_id == filters.external_customer_id)
    if filters.statuses:
        stmt = stmt.where(Invoice.status.in_(filters.statuses))
    if filters.payment_statuses:
        stmt = stmt.where(Invoice.payment_status.in_(filters.payment_statuses))
    if filters.invoice_type:
        stmt = stmt.where(Invoice.invoice_type == filters.invoice_type)
    if filters.currency:
        stmt = stmt.where(Invoice.currency == filters.currency)
    if filters.issuing_date_from:
        stmt = stmt.where(Invoice.issuing_date >= filters.issuing_date_from)
    if filters.issuing_date_to:
        stmt = stmt.where(Invoice.issuing_date <= filters.issuing_date_to)
    return stmt.order_by(Invoice.issuing_date.desc(), Invoice.created_at.desc(), Invoice.id)


def active_subscription(session: Session, customer_id: uuid.UUID, external_id: str) -> Subscription | None:
    return session.scalar(select(Subscription).where(
        Subscription.customer_id == customer_id, Subscription.external_id == external_id,
        Subscription.status == "active").limit(1))


def drafts_billing(session: Session, organization_id: uuid.UUID, external_ids: set[str],
                   at: datetime) -> list[uuid.UUID]:
    """The organization's drafts still in their grace period at ``at`` that bill a subscription
    with one of these external ids."""
    stmt = (select(Invoice.id).join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
            .join(Subscription, Subscription.id == InvoiceSubscription.subscription_id)
            .where(Invoice.organization_id == organization_id, Invoice.status == "draft",
                   Invoice.grace_period_ends_at > at, Subscription.external_id.in_(external_ids))
            .distinct())
    return sorted(session.scalars(stmt))
