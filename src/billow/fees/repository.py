"""Fee queries (no rules)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, and_, func, or_, select

from billow.models import Customer, Fee, Invoice, Subscription


@dataclass(frozen=True)
class FeeFilters:
    external_customer_id: str | None = None
    external_subscription_id: str | None = None
    fee_type: str | None = None
    currency: str | None = None
    payment_status: str | None = None
    event_transaction_id: str | None = None


def list_query(organization_id: uuid.UUID, filters: FeeFilters) -> Select[tuple[Fee]]:
    """Fees of invoices and pay-in-advance fees without one (their customer is the subscription's)."""
    stmt = (select(Fee).outerjoin(Invoice, Invoice.id == Fee.invoice_id)
            .outerjoin(Subscription, Subscription.id == Fee.subscription_id)
            .where(Fee.organization_id == organization_id, Fee.deleted_at.is_(None)))
    if filters.external_customer_id:
        stmt = stmt.join(Customer, Customer.id == func.coalesce(Invoice.customer_id, Subscription.customer_id)).where(
            Customer.external_id == filters.external_customer_id)
    if filters.external_subscription_id:
        stmt = stmt.where(Subscription.external_id == filters.external_subscription_id)
    if filters.fee_type:
        stmt = stmt.where(Fee.fee_type == filters.fee_type)
    if filters.currency:
        stmt = stmt.where(Fee.amount_currency == filters.currency)
    if filters.payment_status:  # an invoiced fee's is its invoice's
        stmt = stmt.where(or_(and_(Fee.invoice_id.is_(None), Fee.payment_status == filters.payment_status),
                              Invoice.payment_status == filters.payment_status))
    if filters.event_transaction_id:
        stmt = stmt.where(Fee.event_transaction_id == filters.event_transaction_id)
    return stmt.order_by(Fee.created_at, Invoice.id, Fee.position, Fee.id)


def get(organization_id: uuid.UUID, lago_id: uuid.UUID) -> Select[tuple[Fee]]:
    return list_query(organization_id, FeeFilters()).where(Fee.id == lago_id)


def true_up_of(fee_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    return select(Fee.id).where(Fee.true_up_parent_fee_id == fee_id)
