"""Applying coupons to customers, ending those applications, and their use on invoices: the
customer's active coupons as :mod:`billow.pricing.coupons` takes them (:func:`for_invoice`) and
what an invoice took from each (:func:`record_use`, undone by :func:`give_back`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.errors import NotAllowed, NotFound, ValidationFailed
from billow.core.repository import parse_uuid
from billow.coupons import repository
from billow.coupons.schemas import AppliedCouponCreate, remaining_amount_cents
from billow.customers import repository as customers
from billow.models import AppliedCoupon, Coupon, Credit, Customer, Invoice, Organization
from billow.pricing import coupons as pricing


def apply(session: Session, organization: Organization, data: AppliedCouponCreate) -> AppliedCoupon:
    customer = customers.get(session, organization.id, data.external_customer_id)
    # One application at a time per customer, so the reuse and overlap checks hold.
    customers.lock(session, customer.id)
    coupon = repository.find_applicable(session, organization.id, data.coupon_code, clock.now())
    if coupon is None:
        raise NotFound("coupon")
    if _overlaps_active_limitation(session, customer, coupon):
        raise NotAllowed("plan_overlapping")
    if not coupon.reusable and repository.customer_has_coupon(session, customer.id, coupon.id):
        raise ValidationFailed.field("coupon", "coupon_is_not_reusable")
    values = _values(coupon, data)
    if coupon.coupon_type == "fixed_amount":
        _bind_currency(customer, values["amount_currency"])

    applied = AppliedCoupon(
        organization_id=organization.id,
        customer=customer,
        coupon=coupon,
        status="active",
        frequency_duration_remaining=values["frequency_duration"],
        **values,
    )
    session.add(applied)
    session.flush()
    return applied


def terminate(
    session: Session, organization: Organization, external_customer_id: str, applied_coupon_id: str
) -> AppliedCoupon:
    customer = customers.get(session, organization.id, external_customer_id)
    applied = repository.get_applied(session, customer, parse_uuid(applied_coupon_id, "applied_coupon"))
    terminate_all([applied], clock.now())
    session.flush()
    return applied


def terminate_all(applied_coupons: Iterable[AppliedCoupon], now: datetime) -> None:
    for applied in applied_coupons:
        if applied.status != "terminated":
            applied.status = "terminated"
            applied.terminated_at = now


def terminate_for_customer(session: Session, customer: Customer) -> None:
    """End every active coupon of a customer (the customer is being deleted)."""
    terminate_all(repository.active_for_customer(session, customer.id), clock.now())


def _values(coupon: Coupon, data: AppliedCouponCreate) -> dict[str, Any]:
    """The customer's values: each override sent, else the coupon's own, limited to what its kind uses."""
    sent = data.changes(exclude={"external_customer_id", "coupon_code"})
    values: dict[str, Any] = {
        field: sent.get(field, getattr(coupon, field))
        for field in ("amount_cents", "amount_currency", "percentage_rate", "frequency", "frequency_duration")
    }
    if coupon.coupon_type == "fixed_amount":
        values["percentage_rate"] = None
    else:
        values["amount_cents"] = values["amount_currency"] = None
    if values["frequency"] != "recurring":
        values["frequency_duration"] = None
    elif values["frequency_duration"] is None:
        raise ValidationFailed.field("frequency_duration", "value_is_mandatory")
    return values


def _overlaps_active_limitation(session: Session, customer: Customer, coupon: Coupon) -> bool:
    """A coupon limited to plans or metrics may not reach what an active limited coupon of the customer
    already targets: the same plan, the same metric, or a plan of one charging a metric of the other."""
    if not (coupon.limited_plans or coupon.limited_billable_metrics):
        return False
    plans = {plan.id for plan in coupon.plans}
    metrics = {metric.id for metric in coupon.billable_metrics}
    charged_metrics, charging_plans = repository.charge_links(session, plans, metrics)
    reached_plans, reached_metrics = plans | charging_plans, metrics | charged_metrics
    for applied in repository.active_for_customer(session, customer.id):
        other = applied.coupon
        if reached_plans & {plan.id for plan in other.plans}:
            return True
        if reached_metrics & {metric.id for metric in other.billable_metrics}:
            return True
    return False


def _bind_currency(customer: Customer, currency: str) -> None:
    """A fixed amount must be in the customer's currency; a customer without one takes it."""
    if customer.currency is None:
        customer.currency = currency
    elif customer.currency != currency:
        raise ValidationFailed.field("currency", "currencies_does_not_match")


# ---- use on invoices -----------------------------------------------------------------------------


def for_invoice(session: Session, customer: Customer) -> dict[str, tuple[AppliedCoupon, pricing.Coupon]]:
    """The customer's active coupons, keyed as the pricing sees them. A once fixed coupon has what
    its earlier credits did not grant left; the others their full amount. (A coupon's expiration
    date ends its being applied to customers, not the applications made before it.)"""
    found = {}
    for applied in repository.active_for_customer(session, customer.id):
        coupon = applied.coupon
        remaining = None
        if coupon.coupon_type == "fixed_amount" and applied.frequency == "once":
            remaining = remaining_amount_cents(applied)
        found[str(applied.id)] = (applied, pricing.Coupon(
            key=str(applied.id), coupon_type=pricing.CouponType(coupon.coupon_type),
            frequency=pricing.Frequency(applied.frequency), applied_at=applied.created_at,
            amount_cents=applied.amount_cents or 0, percentage_rate=applied.percentage_rate or Decimal(0),
            currency=applied.amount_currency, amount_cents_remaining=remaining,
            billable_metric_ids=tuple(str(m.id) for m in coupon.billable_metrics) if coupon.limited_billable_metrics
            else (),
            plan_ids=tuple(str(p.id) for p in coupon.plans) if coupon.limited_plans else (),
            frequency_duration_remaining=applied.frequency_duration_remaining,
        ))
    return found


def record_use(session: Session, invoice: Invoice, applied: AppliedCoupon, result: pricing.CouponResult,
               at: datetime) -> Credit:
    """The coupon's credit on ``invoice`` and its state afterwards (uses left, terminated)."""
    applied.frequency_duration_remaining = result.frequency_duration_remaining
    ends = result.terminated and applied.status != "terminated"
    if ends:
        terminate_all([applied], at)
    credit = Credit(organization_id=invoice.organization_id, invoice_id=invoice.id, applied_coupon_id=applied.id,
                    amount_cents=result.amount_cents, amount_currency=invoice.currency, before_taxes=True,
                    terminated_coupon=ends)
    session.add(credit)
    session.expire(applied, ["credits"])
    return credit


def give_back(session: Session, credits: Sequence[Credit]) -> None:
    """Undo coupon credits about to be priced again: a use of a recurring coupon is counted back,
    a coupon the use ended is active again (a once fixed coupon's remaining amount follows)."""
    for credit in credits:
        applied = session.get_one(AppliedCoupon, credit.applied_coupon_id)
        if applied.frequency == "recurring" and applied.frequency_duration_remaining is not None:
            applied.frequency_duration_remaining += 1
        if credit.terminated_coupon:
            applied.status, applied.terminated_at = "active", None
        session.expire(applied, ["credits"])
