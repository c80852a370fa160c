"""``POST /invoices/preview``: the invoice a customer would receive next, written to nothing.

The preview runs the billing run's own code inside a savepoint that is always rolled back: the
customer (when given inline) and the subscription (when a plan is given) are created as the API
would create them, :func:`billow.invoices.billing.bill_period` writes the invoice of the period
that is due next, and :func:`billow.invoices.service.recompute` prices it as finalization does.
The serialized invoice is all that survives the rollback, so a preview and the invoice later
issued for the same period and usage are computed by the same functions.

What is previewed:

- ``subscriptions.external_ids``: the invoice closing the current charges period of those active
  subscriptions of the customer (usage so far, the subscription fee due with it);
- ``subscriptions.plan_code`` (one subscription): its plan changed now as ``POST /subscriptions``
  does: an upgrade ends it now (its final invoice, with the new plan's first fee when that plan is
  paid in advance), a downgrade at its period's end, when the billing run switches plans (the
  invoice of that period, with the new plan's first fee if paid in advance);
- ``subscriptions.terminated_at`` (one subscription, not in the past): its final invoice, the
  subscription ended at that instant (a plan paid in advance credits its unused days, the credit
  note consumed by that invoice as it would be);
- ``plan_code`` (+ ``subscription_at``, ``billing_time``): the first invoice of a new
  subscription: the starting invoice of a plan paid in advance, else the invoice closing its
  first period.

``plan_overrides`` (top level, with ``plan_code``; or in ``subscriptions``) price the previewed
invoice with the overridden terms: the new subscription is created with them, the existing ones get
them as ``PUT /subscriptions/{external_id}`` would give them (their own copy of the plan, made or
edited), a changed plan as ``POST /subscriptions`` with ``plan_overrides`` would make it.

``coupons`` apply to the previewed invoice as if applied to the customer now (an existing coupon
by its code, else one made of the values given), and only when the customer has no active coupon:
Lago then previews the customer's own coupons and ignores these.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billow.core.errors import LagoError, MissingRoot, NotFound, ValidationFailed
from billow.core.wire import validate
from billow.coupons import applied_service as applied_coupons
from billow.coupons import repository as coupon_repository
from billow.coupons import service as coupons_service
from billow.coupons.schemas import AppliedCouponCreate, CouponCreate
from billow.credit_notes.termination import credit_unused_fee
from billow.customers import repository as customers
from billow.customers import service as customers_service
from billow.customers.schemas import CustomerIn
from billow.invoices import billing, repository, service
from billow.invoices.schemas import (
    PreviewCoupon,
    PreviewIn,
    PreviewSubscriptions,
    invoice_json,
)
from billow.models import Customer, Invoice, Organization, Subscription
from billow.plans.schemas import PlanOverrides
from billow.pricing.periods import ONE_SECOND, start_of_local_day
from billow.subscriptions import periods, schedule
from billow.subscriptions import repository as subscriptions_repository
from billow.subscriptions import service as subscriptions_service
from billow.subscriptions.schemas import SubscriptionCreate
from billow.usage.service import pricing_for


class _Subscriptions(PreviewSubscriptions):
    plan_overrides: PlanOverrides | None = None


class Preview(PreviewIn):
    """The preview's keys, with ``plan_overrides`` for the new subscription or the existing ones."""

    plan_overrides: PlanOverrides | None = None
    subscriptions: _Subscriptions | None = None


def parse(body: Any) -> Preview:
    """The preview's top-level keys; ``customer`` is required, ``coupons`` must be a list."""
    if not isinstance(body, dict) or not isinstance(body.get("customer"), dict):
        raise MissingRoot("customer")
    coupons = body.get("coupons")
    if coupons is not None and not isinstance(coupons, list):
        raise LagoError(error="coupons_must_be_an_array")
    return validate(Preview, body)


def _uncached(session: Session, organization_id: uuid.UUID) -> None:
    """Plan rows written by the preview raised the organization's catalog revision, in a savepoint
    rolled back: a later real edit raises it to the same number. So that nothing priced here is
    kept process-wide under that number, the rest of the preview reads the revision as unknown
    (``billow.usage.rebuild.catalog_revision``'s per-transaction value): pricing is then read
    from the rows, not cached. Call it after the preview's last write to plans."""
    session.info.setdefault("catalog_revisions", {})[organization_id] = None


def _customer(session: Session, organization: Organization, body: dict[str, Any]) -> Customer:
    """The customer with that external id, else one created from the body (rolled back later)."""
    external_id = body.get("external_id")
    if isinstance(external_id, str) and external_id:
        found = customers.find_by_external_id(session, organization.id, external_id)
        if found is not None:
            return found
    data = validate(CustomerIn, {**body, "external_id": external_id or f"preview-{uuid.uuid4()}"})
    return customers_service.upsert(session, organization, data)


def _coupons(session: Session, organization: Organization, customer: Customer, coupons: list[PreviewCoupon]) -> None:
    """Apply the coupons given to the customer, unless it has active coupons of its own."""
    if not coupons or coupon_repository.active_for_customer(session, customer.id):
        return
    for position, given in enumerate(coupons):
        if coupon_repository.find_by_code(session, organization.id, given.code) is None:
            coupons_service.create(session, organization, CouponCreate(
                name=given.name or given.code, code=given.code, coupon_type=given.coupon_type or "fixed_amount",
                amount_cents=given.amount_cents, amount_currency=given.amount_currency or customer.currency,
                percentage_rate=given.percentage_rate, frequency=given.frequency or "once",
                frequency_duration=given.frequency_duration, expiration="no_expiration"))
        applied = applied_coupons.apply(session, organization, AppliedCouponCreate(
            external_customer_id=customer.external_id, coupon_code=given.code))
        applied.created_at += timedelta(microseconds=position)  # applied in the order given, even at one instant


def _existing(session: Session, organization: Organization, customer: Customer, data: Preview,
              now: datetime) -> list[tuple[Subscription, datetime]]:
    assert data.subscriptions is not None
    found = []
    for external_id in dict.fromkeys(data.subscriptions.external_ids):
        subscription = repository.active_subscription(session, customer.id, external_id)
        if subscription is None:
            raise NotFound("subscription")
        found.append(subscription)
    overrides, changing = data.subscriptions.plan_overrides, data.subscriptions.plan_code
    if overrides is not None and (changing is None or data.subscriptions.terminated_at is not None):
        for subscription in found:  # the subscriptions' own terms (a new plan gets them instead)
            subscriptions_service.override(session, subscription, overrides)
        _uncached(session, organization.id)
    if data.subscriptions.terminated_at is not None:
        return [_terminated(session, found, data.subscriptions.terminated_at, now)]
    if changing is not None:
        return [_plan_changed(session, organization, found, changing, overrides, now)]
    owed = []
    for subscription in found:
        window = periods.current_window(subscription, subscription.plan, customer, now)
        owed.append((subscription, window.period.to_datetime + ONE_SECOND))  # when the period closes
    return owed


def _terminated(session: Session, found: list[Subscription], terminated_at: datetime,
                now: datetime) -> tuple[Subscription, datetime]:
    """The subscription ended at ``terminated_at``, as terminating it then would, and that instant."""
    if len(found) > 1:
        raise ValidationFailed.field("subscriptions", "only_one_subscription_allowed_for_termination")
    if terminated_at < now:
        raise ValidationFailed.field("terminated_at", "cannot_be_in_past")
    [subscription] = found
    subscription.status, subscription.terminated_at = "terminated", terminated_at
    session.flush()
    if pricing_for(session, subscription.organization_id, subscription).snapshot.pay_in_advance:
        terms = subscriptions_service.pricing(session, subscription)
        credit_unused_fee(session, subscription, plan_amount_cents=terms.amount_cents,
                          trial_end=subscriptions_service.trial_end(session, subscription, terms))
    return subscription, terminated_at


def _plan_changed(session: Session, organization: Organization, found: list[Subscription], plan_code: str,
                  overrides: PlanOverrides | None, now: datetime) -> tuple[Subscription, datetime]:
    """The plan changed now as ``POST /subscriptions`` changes it, and when the subscription's
    closing invoice is due: now for an upgrade, at the switch of plans for a downgrade."""
    if len(found) > 1:
        raise ValidationFailed.field("subscriptions", "only_one_subscription_allowed_for_plan_change")
    [subscription] = found
    plan = subscriptions_repository.find_plan(session, organization.id, plan_code)
    if plan is None:
        raise NotFound("plan")
    if plan.id == (subscription.plan.parent_id or subscription.plan_id):
        raise ValidationFailed.field("base", "new_plan_should_be_different_from_existing_plan")
    subscriptions_service.create(session, organization, SubscriptionCreate(
        external_customer_id=subscription.customer.external_id, plan_code=plan_code,
        external_id=subscription.external_id, plan_overrides=overrides))
    if overrides is not None:
        _uncached(session, organization.id)
    if subscription.status == "terminated":  # an upgrade: at once
        return subscription, now
    assert subscription.downgrade_plan_date is not None
    switch = start_of_local_day(subscription.downgrade_plan_date, subscription.customer.applicable_timezone)
    schedule.apply(session, subscription.id, switch)
    return subscription, switch


def _new(session: Session, organization: Organization, customer: Customer, data: Preview,
         now: datetime) -> list[tuple[Subscription, datetime]]:
    if data.plan_code is None:
        raise NotFound("subscription")
    start = data.subscription_at or now
    subscription = subscriptions_service.create(session, organization, SubscriptionCreate(
        external_customer_id=customer.external_id, plan_code=data.plan_code, external_id=f"preview-{uuid.uuid4()}",
        billing_time=data.billing_time, subscription_at=start, plan_overrides=data.plan_overrides))
    if data.plan_overrides is not None:
        _uncached(session, organization.id)
    subscription.status, subscription.started_at = "active", start  # as if its date had come
    session.flush()
    if pricing_for(session, organization.id, subscription).snapshot.pay_in_advance:
        return [(subscription, start)]  # the starting invoice
    _first, last = periods.current_billing_period(subscription, subscription.plan, customer, start)
    return [(subscription, last + ONE_SECOND)]


def _issue(session: Session, owed: list[tuple[Subscription, datetime]]) -> Invoice:
    """The invoice of every subscription's next due period, gathered on the first one and priced."""
    if len({subscription.plan.amount_currency for subscription, _ in owed}) > 1:
        raise ValidationFailed.field("base", "subscription_currencies_does_not_match")
    if len({at for _, at in owed}) > 1:
        raise ValidationFailed.field("base", "billing_periods_does_not_match")
    invoices: list[Invoice] = []
    for subscription, at in owed:
        billed = repository.billed_keys(session, subscription.id)
        dues = [due for due in billing.due_periods(session, subscription, at) if due.key not in billed]
        if not dues:
            raise NotFound("subscription")
        written = billing.bill_period(session, subscription.id, dues[-1], at)
        assert written is not None
        invoices.append(session.get_one(Invoice, written.invoice_id))
    first = invoices[0]
    for other in invoices[1:]:
        for row in [*repository.links(session, other.id), *repository.fees_of(session, other.id)]:
            row.invoice_id = first.id
    session.flush()
    service.recompute(session, first, finalize=True)
    return first


def preview(session: Session, organization: Organization, data: Preview, now: datetime) -> dict[str, Any]:
    """The previewed invoice in Lago's wire shape; the database is left as it was."""
    savepoint = session.begin_nested()
    session.info[service.PREVIEW] = True
    try:
        customer = _customer(session, organization, data.customer)
        _coupons(session, organization, customer, data.coupons)
        if data.subscriptions is not None:
            owed = _existing(session, organization, customer, data, now)
        else:
            owed = _new(session, organization, customer, data, now)
        return invoice_json(session, _issue(session, owed))
    finally:
        session.info.pop(service.PREVIEW, None)
        savepoint.rollback()


__all__ = ["parse", "preview"]
