from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from billow.core.errors import NotFound
from billow.core.repository import find, get_or_404, newest_first, scoped
from billow.coupons.schemas import AppliedCouponFilters
from billow.models import AppliedCoupon, BillableMetric, Charge, Coupon, Customer, Plan

# ---- coupons -------------------------------------------------------------------------------------


def get(session: Session, organization_id: uuid.UUID, code: str) -> Coupon:
    return get_or_404(session, Coupon, organization_id, "coupon", code=code)


def find_by_code(session: Session, organization_id: uuid.UUID, code: str) -> Coupon | None:
    return find(session, Coupon, organization_id, code=code)


def find_applicable(session: Session, organization_id: uuid.UUID, code: str, now: datetime) -> Coupon | None:
    """A live, active coupon whose time limit (if any) has not passed."""
    coupon = find_by_code(session, organization_id, code)
    if coupon is None or coupon.status != "active":
        return None
    if coupon.expiration == "time_limit" and coupon.expiration_at is not None and coupon.expiration_at <= now:
        return None
    return coupon


def list_query(organization_id: uuid.UUID) -> Select[tuple[Coupon]]:
    return newest_first(scoped(Coupon, organization_id), Coupon)


def _resolve(
    session: Session,
    model: type[Plan] | type[BillableMetric],
    organization_id: uuid.UUID,
    codes: Sequence[str],
    resource: str,
) -> list:  # type: ignore[type-arg]
    wanted = list(dict.fromkeys(codes))
    stmt = scoped(model, organization_id).where(model.code.in_(wanted))
    if model is Plan:
        stmt = stmt.where(Plan.parent_id.is_(None))  # not the per-subscription override copies
    rows = {row.code: row for row in session.scalars(stmt)}
    if len(rows) != len(wanted):
        raise NotFound(resource)
    return [rows[code] for code in wanted]


def resolve_plans(session: Session, organization_id: uuid.UUID, codes: Sequence[str]) -> list[Plan]:
    """Live plans for the codes; any unknown code is a 404 `plans_not_found`, as Lago reports it."""
    return _resolve(session, Plan, organization_id, codes, "plans")


def resolve_billable_metrics(
    session: Session, organization_id: uuid.UUID, codes: Sequence[str]
) -> list[BillableMetric]:
    return _resolve(session, BillableMetric, organization_id, codes, "billable_metrics")


def has_been_applied(session: Session, coupon_id: uuid.UUID) -> bool:
    """Whether the coupon was ever applied to a customer (terminated applications included)."""
    return session.scalar(select(AppliedCoupon.id).where(AppliedCoupon.coupon_id == coupon_id).limit(1)) is not None


def charge_links(
    session: Session, plan_ids: set[uuid.UUID], metric_ids: set[uuid.UUID]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """(metrics charged by the plans, plans charging the metrics), over live charges."""
    live = Charge.deleted_at.is_(None)
    charged_metrics = (
        set(session.scalars(select(Charge.billable_metric_id).where(live, Charge.plan_id.in_(plan_ids))))
        if plan_ids
        else set()
    )
    charging_plans = (
        set(session.scalars(select(Charge.plan_id).where(live, Charge.billable_metric_id.in_(metric_ids))))
        if metric_ids
        else set()
    )
    return charged_metrics, charging_plans


# ---- applied coupons -----------------------------------------------------------------------------


def get_applied(session: Session, customer: Customer, applied_coupon_id: uuid.UUID) -> AppliedCoupon:
    stmt = select(AppliedCoupon).where(
        AppliedCoupon.organization_id == customer.organization_id,
        AppliedCoupon.customer_id == customer.id,
        AppliedCoupon.id == applied_coupon_id,
    )
    applied = session.scalar(stmt)
    if applied is None:
        raise NotFound("applied_coupon")
    return applied


def active_for_customer(session: Session, customer_id: uuid.UUID) -> list[AppliedCoupon]:
    stmt = select(AppliedCoupon).where(AppliedCoupon.customer_id == customer_id, AppliedCoupon.status == "active")
    return list(session.scalars(stmt.order_by(AppliedCoupon.created_at, AppliedCoupon.id)))


def active_for_coupon(session: Session, coupon_id: uuid.UUID) -> list[AppliedCoupon]:
    stmt = select(AppliedCoupon).where(AppliedCoupon.coupon_id == coupon_id, AppliedCoupon.status == "active")
    return list(session.scalars(stmt))


def customer_has_coupon(session: Session, customer_id: uuid.UUID, coupon_id: uuid.UUID) -> bool:
    """Whether the coupon was ever applied to the customer, whatever that application's status."""
    stmt = select(AppliedCoupon.id).where(
        AppliedCoupon.customer_id == customer_id, AppliedCoupon.coupon_id == coupon_id
    )
    return session.scalar(stmt.limit(1)) is not None


def applied_list_query(
    organization_id: uuid.UUID, filters: AppliedCouponFilters, customer_id: uuid.UUID | None = None
) -> Select[tuple[AppliedCoupon]]:
    stmt = select(AppliedCoupon).where(AppliedCoupon.organization_id == organization_id)
    if customer_id is not None:
        stmt = stmt.where(AppliedCoupon.customer_id == customer_id)
    if filters.status is not None:
        stmt = stmt.where(AppliedCoupon.status == filters.status)
    if filters.external_customer_id is not None:
        live_customers = select(Customer.id).where(
            Customer.organization_id == organization_id,
            Customer.external_id == filters.external_customer_id,
            Customer.deleted_at.is_(None),
        )
        stmt = stmt.where(AppliedCoupon.customer_id.in_(live_customers))
    if filters.coupon_code:
        coupons = select(Coupon.id).where(
            Coupon.organization_id == organization_id, Coupon.code.in_(filters.coupon_code)
        )
        stmt = stmt.where(AppliedCoupon.coupon_id.in_(coupons))
    return newest_first(stmt, AppliedCoupon)
