"""Queries of the subscriptions domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from billow.core.repository import newest_first, scoped
from billow.models import Customer, Plan, Subscription
from billow.subscriptions.schemas import SubscriptionFilters


def _of(organization_id: uuid.UUID, external_id: str) -> Select[tuple[Subscription]]:
    return scoped(Subscription, organization_id).where(Subscription.external_id == external_id)


def find_plan(session: Session, organization_id: uuid.UUID, code: str) -> Plan | None:
    """A live plan of the organization by code (never a per-subscription override copy)."""
    stmt = scoped(Plan, organization_id).where(Plan.code == code, Plan.parent_id.is_(None))
    return session.scalar(stmt.limit(1))


def find_with_status(session: Session, organization_id: uuid.UUID, external_id: str, status: str) -> Subscription | None:
    """The newest subscription with this external id and status."""
    stmt = newest_first(_of(organization_id, external_id).where(Subscription.status == status), Subscription)
    return session.scalar(stmt.limit(1))


def with_external_id(session: Session, organization_id: uuid.UUID, external_id: str) -> Sequence[Subscription]:
    """Every subscription with this external id, latest ``subscription_at`` first."""
    stmt = _of(organization_id, external_id).order_by(Subscription.subscription_at.desc(), Subscription.created_at.desc())
    return session.scalars(stmt).all()


def editable(session: Session, customer_id: uuid.UUID, external_id: str) -> Subscription | None:
    """The customer's subscription a new `POST` with this external id acts on: the active one, else
    one waiting for its own start date."""
    stmt = select(Subscription).where(Subscription.customer_id == customer_id, Subscription.external_id == external_id)
    active = session.scalar(stmt.where(Subscription.status == "active").limit(1))
    if active is not None:
        return active
    future = stmt.where(Subscription.status == "pending", Subscription.previous_subscription_id.is_(None))
    return session.scalar(newest_first(future, Subscription).limit(1))


def held_by_another_customer(session: Session, organization_id: uuid.UUID, external_id: str, customer_id: uuid.UUID | None) -> bool:
    """Whether another customer has a live (active or pending) subscription with this external id."""
    stmt = _of(organization_id, external_id).where(Subscription.status.in_(("active", "pending")))
    if customer_id is not None:
        stmt = stmt.where(Subscription.customer_id != customer_id)
    return session.scalar(stmt.limit(1)) is not None


def other_active(session: Session, subscription: Subscription) -> Subscription | None:
    stmt = _of(subscription.organization_id, subscription.external_id).where(
        Subscription.status == "active", Subscription.id != subscription.id
    )
    return session.scalar(stmt.limit(1))


def of_customer(session: Session, customer_id: uuid.UUID, statuses: Iterable[str]) -> Sequence[Subscription]:
    stmt = select(Subscription).where(Subscription.customer_id == customer_id, Subscription.status.in_(tuple(statuses)))
    return session.scalars(stmt.order_by(Subscription.created_at, Subscription.id)).all()


def customer_has_subscriptions(session: Session, customer_id: uuid.UUID) -> bool:
    stmt = select(Subscription.id).where(Subscription.customer_id == customer_id)
    return session.scalar(stmt.limit(1)) is not None


def initial_started_at(session: Session, subscription: Subscription) -> datetime:
    """When the customer's first subscription with this external id started (a plan change or a
    re-subscription does not restart a free trial); ``subscription_at`` if none has started yet."""
    first = session.scalar(
        select(func.min(Subscription.started_at)).where(
            Subscription.customer_id == subscription.customer_id,
            Subscription.external_id == subscription.external_id,
            Subscription.started_at.is_not(None),
        )
    )
    if first is None:
        return subscription.started_at or subscription.subscription_at
    return first


def resolve(session: Session, organization_id: uuid.UUID, external_id: str, at: datetime) -> Subscription | None:
    """The subscription that carried this external id at instant ``at``: started at or before it and
    not terminated before it; the latest started wins (at an upgrade instant, the new plan)."""
    stmt = _of(organization_id, external_id).where(
        Subscription.started_at.is_not(None),
        Subscription.started_at <= at,
        or_(Subscription.terminated_at.is_(None), Subscription.terminated_at >= at),
    )
    return session.scalar(stmt.order_by(Subscription.started_at.desc(), Subscription.created_at.desc()).limit(1))


def list_query(organization_id: uuid.UUID, filters: SubscriptionFilters) -> Select[tuple[Subscription]]:
    stmt = scoped(Subscription, organization_id).where(Subscription.status.in_(filters.status or ["active"]))
    if filters.external_customer_id is not None:
        customers = select(Customer.id).where(
            Customer.organization_id == organization_id,
            Customer.external_id == filters.external_customer_id,
            Customer.deleted_at.is_(None),
        )
        stmt = stmt.where(Subscription.customer_id.in_(customers))
    if filters.plan_code is not None or filters.currency is not None:
        plans = select(Plan.id).where(Plan.organization_id == organization_id)
        if filters.plan_code is not None:
            plans = plans.where(Plan.code == filters.plan_code)
        if filters.currency is not None:
            plans = plans.where(Plan.amount_currency == filters.currency.upper())
        stmt = stmt.where(Subscription.plan_id.in_(plans))
    if filters.external_id is not None:
        stmt = stmt.where(Subscription.external_id == filters.external_id)
    return newest_first(stmt, Subscription)
