from __future__ import annotations

import uuid

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from billow.core.repository import find, get_or_404, newest_first, scoped
from billow.customers.schemas import CustomerFilters
from billow.models import AppliedCoupon, Customer, CustomerMetadata, Organization


def get(session: Session, organization_id: uuid.UUID, external_id: str) -> Customer:
    return get_or_404(session, Customer, organization_id, "customer", external_id=external_id)


def find_by_external_id(session: Session, organization_id: uuid.UUID, external_id: str) -> Customer | None:
    return find(session, Customer, organization_id, external_id=external_id)


def lock_organization(session: Session, organization_id: uuid.UUID) -> None:
    """Serialise customer creation per organization (row lock on PostgreSQL; SQLite writers already queue)."""
    session.execute(select(Organization.id).where(Organization.id == organization_id).with_for_update())


def lock(session: Session, customer_id: uuid.UUID) -> None:
    """Serialise changes to one customer's coupons (row lock on PostgreSQL)."""
    session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())


def next_sequential_id(session: Session, organization_id: uuid.UUID) -> int:
    """One more than the highest number ever given in the organization, deleted customers included."""
    highest = session.scalar(
        select(func.max(Customer.sequential_id)).where(Customer.organization_id == organization_id)
    )
    return (highest or 0) + 1


def has_currency_bound_coupons(session: Session, customer_id: uuid.UUID) -> bool:
    """Whether a coupon with an amount in the customer's currency has been applied to the customer."""
    stmt = select(AppliedCoupon.id).where(
        AppliedCoupon.customer_id == customer_id, AppliedCoupon.amount_currency.is_not(None)
    )
    return session.scalar(stmt.limit(1)) is not None


def _contains(column, term: str):  # type: ignore[no-untyped-def]
    return func.lower(column).contains(term.lower(), autoescape=True)


def list_query(organization_id: uuid.UUID, filters: CustomerFilters) -> Select[tuple[Customer]]:
    stmt = scoped(Customer, organization_id)
    if filters.search_term:
        columns = (
            Customer.name,
            Customer.firstname,
            Customer.lastname,
            Customer.legal_name,
            Customer.email,
            Customer.external_id,
        )
        stmt = stmt.where(or_(*(_contains(column, filters.search_term) for column in columns)))
    for column, values in (
        (Customer.country, filters.countries),
        (Customer.state, filters.states),
        (Customer.zipcode, filters.zipcodes),
        (Customer.currency, filters.currencies),
        (Customer.account_type, filters.account_type),
        (Customer.billing_entity_code, filters.billing_entity_codes),
    ):
        if values:
            stmt = stmt.where(column.in_(values))
    if filters.customer_type is not None:
        stmt = stmt.where(Customer.customer_type == filters.customer_type)
    if filters.has_customer_type is not None:
        has_type = Customer.customer_type.is_not(None)
        stmt = stmt.where(has_type if filters.has_customer_type else ~has_type)
    if filters.has_tax_identification_number is not None:
        has_number = and_(Customer.tax_identification_number.is_not(None), Customer.tax_identification_number != "")
        stmt = stmt.where(has_number if filters.has_tax_identification_number else ~has_number)
    for key, value in filters.metadata.items():
        stmt = stmt.where(
            exists().where(
                CustomerMetadata.customer_id == Customer.id,
                CustomerMetadata.key == key,
                CustomerMetadata.value == value,
            )
        )
    return newest_first(stmt, Customer)
