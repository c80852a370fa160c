"""Subscription rules: subscribe, change plan (upgrade now, downgrade at the end of the period),
edit, terminate or cancel. Nothing here commits; no invoice or fee is produced here (billing does
that from the rows these rules leave: an upgrade or a termination enqueues its billing, in the same
transaction, so its invoice follows at once)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.errors import NotFound, ValidationFailed
from billow.credit_notes.termination import credit_unused_fee
from billow.customers import repository as customers
from billow.customers import service as customers_service
from billow.customers.schemas import CustomerIn
from billow.models import Customer, Organization, Plan, Subscription
from billow.plans import overrides, versions
from billow.plans import repository as plans
from billow.plans import service as plans_service
from billow.plans.schemas import PlanOverrides, ThresholdIn, plan_json
from billow.pricing.periods import ONE_DAY
from billow.pricing.proration import PlanChange, plan_change
from billow.pricing.proration import trial_end as trial_end_from
from billow.subscriptions import periods, repository, tasks, thresholds
from billow.subscriptions.schemas import (
    Facts,
    SubscriptionCreate,
    SubscriptionUpdate,
    TerminateParams,
    subscription_json,
)
from billow.webhooks import service as webhooks

# ---- what a subscription is priced on ------------------------------------------------------------


@dataclass(frozen=True)
class Pricing:
    """The plan terms a subscription bills with: its pinned version (moved by cascaded edits)."""

    version: int
    amount_cents: int
    amount_currency: str
    interval: str
    trial_period: Decimal | None


_TERMS = "billow.subscriptions.terms"


@contextmanager
def terms_remembered(session: Session) -> Iterator[None]:
    """Within the block, :func:`pricing` reads a plan version's terms once (for serializing many
    subscriptions of a few plans; the catalog must not change meanwhile)."""
    outer = _TERMS in session.info
    session.info.setdefault(_TERMS, {})
    try:
        yield
    finally:
        if not outer:
            session.info.pop(_TERMS, None)


def pricing(session: Session, subscription: Subscription) -> Pricing:
    remembered: dict[tuple[uuid.UUID, int], Pricing] | None = session.info.get(_TERMS)
    if remembered is None:
        return _pricing(session, subscription)
    key = (subscription.plan_id, subscription.plan_version)
    if key not in remembered:
        remembered[key] = _pricing(session, subscription)
    return remembered[key]


def _pricing(session: Session, subscription: Subscription) -> Pricing:
    plan = subscription.plan
    number = versions.effective_version(session, plan, subscription.plan_version)
    version = plans.version(session, plan.id, number)
    if version is None:  # a plan row without versions: its current columns are its terms
        return Pricing(number, plan.amount_cents, plan.amount_currency, plan.interval, plan.trial_period)
    terms = version.snapshot
    trial = terms["trial_period"]
    return Pricing(
        number, terms["amount_cents"], terms["amount_currency"], terms["interval"], None if trial is None else Decimal(trial)
    )


def trial_end(session: Session, subscription: Subscription, terms: Pricing | None = None) -> datetime | None:
    """When the free trial ends: the first start of this external id (for this customer) plus the
    plan's trial days; None without a trial."""
    terms = terms or pricing(session, subscription)
    if not terms.trial_period:
        return None
    return trial_end_from(repository.initial_started_at(session, subscription), terms.trial_period)


def facts(session: Session, subscription: Subscription, at: datetime | None = None) -> Facts:
    """The computed fields of the wire object, as of ``at`` (default now)."""
    now = at or clock.now()
    terms = pricing(session, subscription)

    trial_ended_at = subscription.trial_ended_at
    if trial_ended_at is None and subscription.started_at is not None:
        end = trial_end(session, subscription, terms)
        # Lago shows the trial end only once the trial is over.
        trial_ended_at = end if end is not None and end <= now else None

    period_from = period_to = None
    if subscription.started_at is not None:
        window = periods.current_window(subscription, subscription.plan, subscription.customer, now)
        period_from, period_to = window.charges_from_datetime, window.charges_to_datetime

    previous = subscription.previous_subscription
    following = subscription.next_subscription
    if following is not None and following.status == "canceled":
        following = None
    return Facts(
        plan_amount_cents=terms.amount_cents,
        plan_amount_currency=terms.amount_currency,
        trial_ended_at=trial_ended_at,
        current_billing_period_started_at=period_from,
        current_billing_period_ending_at=period_to,
        previous_plan_code=previous.plan.code if previous is not None else None,
        next_plan_code=following.plan.code if following is not None else None,
        downgrade_plan_date=subscription.downgrade_plan_date
        if following is not None and following.status == "pending"
        else None,
    )


def wire(session: Session, subscription: Subscription, *, with_plan: bool = True) -> dict[str, Any]:
    """The subscription as the API returns it (with its plan, as single-object answers do)."""
    plan = plan_json(subscription.plan) if with_plan else None
    applicable = thresholds.applicable_json(session, subscription) if with_plan else None
    return subscription_json(subscription, facts(session, subscription), plan=plan, thresholds=applicable)


def announce(session: Session, subscription: Subscription, webhook_type: str) -> None:
    """``subscription.started`` / ``terminated`` / ``updated`` webhooks, in the same transaction."""
    session.flush()
    webhooks.emit(session, subscription.organization_id, webhook_type, "subscription", wire(session, subscription))


# ---- subscribe / change plan ---------------------------------------------------------------------


def create(session: Session, organization: Organization, data: SubscriptionCreate) -> Subscription:
    """Subscribe the customer (created on the fly when unknown) to the plan; with the external id of
    the customer's current subscription this changes its plan instead (same plan: unchanged)."""
    now = clock.now()
    base = repository.find_plan(session, organization.id, data.plan_code)
    if base is None:
        raise NotFound("plan")
    subscription_at = data.subscription_at or now
    if data.ending_at is not None:
        _check_ending_at(data.ending_at, subscription_at, now)

    # One subscription change at a time per organization: external ids are unique across customers.
    customers.lock_organization(session, organization.id)
    customer = customers.find_by_external_id(session, organization.id, data.external_customer_id)
    current = repository.editable(session, customer.id, data.external_id) if customer is not None else None
    if current is None and repository.held_by_another_customer(
        session, organization.id, data.external_id, customer.id if customer is not None else None
    ):
        raise ValidationFailed.field("external_id", "value_already_exist")
    if current is not None and (current.plan.parent_id or current.plan_id) == base.id:
        return current
    # With overrides the subscription gets its own copy of the plan, priced and billed on its own.
    plan = overrides.create(session, base, data.plan_overrides) if data.plan_overrides is not None else base

    if customer is not None:
        _check_currency(session, customer, plan)
    else:
        # Created in the plan's currency, so that its customer.created webhook shows it.
        new_customer = CustomerIn(external_id=data.external_customer_id, currency=plan.amount_currency)
        customer = customers_service.upsert(session, organization, new_customer)
    customer.currency = plan.amount_currency

    if current is None:
        return _subscribe(session, customer, plan, data, subscription_at, now)
    if current.starting_in_the_future:
        # Not started yet: the plan is simply replaced.
        _move_to(current, plan)
        if data.name:
            current.name = data.name
        session.flush()
        return current
    terms = pricing(session, current)
    change = plan_change(terms.amount_cents, terms.interval, plan.amount_cents, plan.interval)
    if change is PlanChange.UPGRADE:
        return _upgrade(session, current, plan, data, now)
    return _downgrade(session, current, plan, data, now)


def _check_ending_at(ending_at: datetime, subscription_at: datetime, now: datetime) -> None:
    """Lago's rule: the end date (UTC) comes after today and after the subscription date."""
    if ending_at.date() <= now.date() or ending_at.date() <= subscription_at.date():
        raise ValidationFailed.field("ending_at", "invalid_date")


def _check_currency(session: Session, customer: Customer, plan: Plan) -> None:
    """A customer already billed in a currency (subscriptions, fixed-amount coupons) keeps it."""
    if customer.currency is None or customer.currency == plan.amount_currency:
        return
    if repository.customer_has_subscriptions(session, customer.id) or customers.has_currency_bound_coupons(
        session, customer.id
    ):
        raise ValidationFailed.field("currency", "currencies_does_not_match")


def _subscribe(
    session: Session, customer: Customer, plan: Plan, data: SubscriptionCreate, subscription_at: datetime, now: datetime
) -> Subscription:
    started = subscription_at <= now
    subscription = Subscription(
        organization_id=customer.organization_id,
        customer=customer,
        plan=plan,
        plan_version=versions.version_for_new_subscription(plan),
        external_id=data.external_id,
        name=data.name,
        billing_time=data.billing_time,
        subscription_at=subscription_at,
        ending_at=data.ending_at,
        status="active" if started else "pending",
        started_at=subscription_at if started else None,
        on_termination_invoice="generate",
        progressive_billing_disabled=bool(data.progressive_billing_disabled),
    )
    session.add(subscription)
    session.flush()
    if data.usage_thresholds is not None:
        sync_thresholds(session, subscription, data.usage_thresholds)
    if started:
        announce(session, subscription, "subscription.started")
    return subscription


def _move_to(subscription: Subscription, plan: Plan) -> None:
    """The subscription is priced on ``plan`` (its newest version) from now on."""
    subscription.plan = plan
    subscription.plan_version = versions.version_for_new_subscription(plan)


def sync_thresholds(session: Session, subscription: Subscription, items: list[ThresholdIn]) -> None:
    """The subscription's own usage thresholds become ``items`` (plan rules: amounts unique, one
    recurring at most); an empty list removes them (the plan's apply again)."""
    plans_service.sync_thresholds(session, subscription.usage_thresholds, items,
                                  organization_id=subscription.organization_id, subscription_id=subscription.id)
    session.flush()
    session.expire(subscription, ["usage_thresholds"])


def override(session: Session, subscription: Subscription, data: PlanOverrides) -> None:
    """Edit the subscription's copy of its plan, or make one (from the plan it is on)."""
    if subscription.plan.parent_id is not None:
        overrides.update(session, subscription.plan, data)
    else:
        _move_to(subscription, overrides.create(session, subscription.plan, data))
    currency = subscription.customer.currency
    if currency is not None and subscription.plan.amount_currency != currency:
        raise ValidationFailed.field("currency", "currencies_does_not_match")


def _successor(current: Subscription, plan: Plan, data: SubscriptionCreate, *, started_at: datetime | None) -> Subscription:
    """The subscription replacing ``current`` on ``plan``: same external id, customer, anniversary and
    billing time; active from ``started_at``, or pending without it."""
    return Subscription(
        organization_id=current.organization_id,
        customer=current.customer,
        plan=plan,
        plan_version=versions.version_for_new_subscription(plan),
        external_id=current.external_id,
        name=data.name,
        billing_time=current.billing_time,
        subscription_at=current.subscription_at,
        ending_at=data.ending_at if data.given("ending_at") else current.ending_at,
        status="active" if started_at is not None else "pending",
        started_at=started_at,
        previous_subscription_id=current.id,
        on_termination_invoice="generate",
    )


def _upgrade(session: Session, current: Subscription, plan: Plan, data: SubscriptionCreate, now: datetime) -> Subscription:
    """Applied at once: ``current`` ends now, the new subscription starts now and is returned."""
    _cancel_next(session, current, now)
    current.status, current.terminated_at = "terminated", now
    session.flush()  # the old row leaves "active" before the new one takes its external id
    _credit_unused_fee(session, current, upgrade=True)
    new = _successor(current, plan, data, started_at=now)
    session.add(new)
    session.flush()
    current.next_subscription_id = new.id
    _links_changed(session, current, new)
    announce(session, current, "subscription.terminated")
    announce(session, new, "subscription.started")
    tasks.bill_soon(session, current, new)  # one invoice: the old plan's final one and the new plan's start
    return new


def _downgrade(session: Session, current: Subscription, plan: Plan, data: SubscriptionCreate, now: datetime) -> Subscription:
    """Scheduled: ``current`` runs to the end of its period, the new subscription waits (pending) for
    the next period's first day. ``current`` is returned, as Lago does."""
    _cancel_next(session, current, now)
    period = periods.current_period(current, current.plan, current.customer, now)
    new = _successor(current, plan, data, started_at=None)
    session.add(new)
    session.flush()
    current.next_subscription_id = new.id
    current.downgrade_plan_date = period.last_day + ONE_DAY
    _links_changed(session, current, new)
    # Lago announces the scheduled change on the running subscription (next_plan_code, date).
    announce(session, current, "subscription.updated")
    return current


def _links_changed(session: Session, *subscriptions: Subscription) -> None:
    session.flush()
    for subscription in subscriptions:
        session.expire(subscription, ["previous_subscription", "next_subscription"])


# ---- edit ----------------------------------------------------------------------------------------


def update(
    session: Session, organization: Organization, external_id: str, data: SubscriptionUpdate, status: str | None = None
) -> Subscription:
    """Change the keys sent. With several rows for the external id, ``status=pending`` picks the
    pending one, else the active one. ``subscription_at`` only moves a subscription that has not
    started; moved to now or earlier, the subscription starts then."""
    now = clock.now()
    rows = repository.with_external_id(session, organization.id, external_id)
    wanted = "pending" if status == "pending" else "active"
    subscription = rows[0] if len(rows) == 1 else next((row for row in rows if row.status == wanted), None)
    if subscription is None:
        raise NotFound("subscription")
    moving = subscription.starting_in_the_future and data.given("subscription_at")
    if data.ending_at is not None:
        _check_ending_at(data.ending_at, data.subscription_at if moving else subscription.subscription_at, now)
    starting = moving and data.subscription_at <= now  # type: ignore[operator]
    if starting and repository.other_active(session, subscription) is not None:
        raise ValidationFailed.field("external_id", "value_already_exist")

    if data.given("name"):
        subscription.name = data.name
    if data.given("ending_at"):
        subscription.ending_at = data.ending_at
    if data.given("on_termination_credit_note") and subscription.plan.pay_in_advance:
        # Only pay-in-advance plans have an unused part to credit (null otherwise, as Lago).
        subscription.on_termination_credit_note = data.on_termination_credit_note
    if data.given("on_termination_invoice"):
        subscription.on_termination_invoice = data.on_termination_invoice  # type: ignore[assignment]
    if data.progressive_billing_disabled is not None:
        subscription.progressive_billing_disabled = data.progressive_billing_disabled
    if data.usage_thresholds is not None:
        sync_thresholds(session, subscription, data.usage_thresholds)
    if data.plan_overrides is not None:
        override(session, subscription, data.plan_overrides)
    if moving:
        subscription.subscription_at = data.subscription_at  # type: ignore[assignment]
        if starting:
            subscription.status, subscription.started_at = "active", subscription.subscription_at
    session.flush()
    if starting:
        announce(session, subscription, "subscription.started")
    return subscription


# ---- end -----------------------------------------------------------------------------------------


def terminate(session: Session, organization: Organization, external_id: str, params: TerminateParams) -> Subscription:
    """Terminate the active subscription now, or with ``status=pending`` cancel the pending one."""
    now = clock.now()
    wanted = "pending" if params.status == "pending" else "active"
    subscription = repository.find_with_status(session, organization.id, external_id, wanted)
    if subscription is None:
        raise NotFound("subscription")
    if params.on_termination_invoice is not None:
        subscription.on_termination_invoice = params.on_termination_invoice
    if params.on_termination_credit_note is not None and subscription.plan.pay_in_advance:
        subscription.on_termination_credit_note = params.on_termination_credit_note
    if subscription.status == "pending":
        _cancel(session, subscription, now)
    else:
        _terminate(session, subscription, now)
    session.flush()
    return subscription


def terminate_for_customer(session: Session, customer: Customer) -> None:
    """The customer is being deleted: its active subscriptions end now, its pending ones are canceled."""
    now = clock.now()
    for subscription in repository.of_customer(session, customer.id, ("active", "pending")):
        if subscription.status == "active":
            _terminate(session, subscription, now)
        elif subscription.status == "pending":  # not already canceled with the subscription it followed
            _cancel(session, subscription, now)
    session.flush()


def _terminate(session: Session, subscription: Subscription, now: datetime) -> None:
    _cancel_next(session, subscription, now)
    subscription.status, subscription.terminated_at = "terminated", now
    _credit_unused_fee(session, subscription)
    announce(session, subscription, "subscription.terminated")
    tasks.bill_soon(session, subscription)


def _credit_unused_fee(session: Session, subscription: Subscription, *, upgrade: bool = False) -> None:
    """A plan paid in advance ended early: credit the unused days of its last fee (a credit note)."""
    if not subscription.plan.pay_in_advance:
        return
    session.flush()
    terms = pricing(session, subscription)
    credit_unused_fee(session, subscription, plan_amount_cents=terms.amount_cents,
                      trial_end=trial_end(session, subscription, terms), upgrade=upgrade)


def _cancel(session: Session, subscription: Subscription, now: datetime) -> None:
    subscription.status, subscription.canceled_at = "canceled", now
    if subscription.previous_subscription_id is not None:
        previous = session.get(Subscription, subscription.previous_subscription_id)
        if previous is not None and previous.next_subscription_id == subscription.id:
            previous.next_subscription_id = None
            previous.downgrade_plan_date = None
            _links_changed(session, previous)


def _cancel_next(session: Session, subscription: Subscription, now: datetime) -> None:
    """A downgrade scheduled after ``subscription`` will not happen any more."""
    if subscription.next_subscription_id is None:
        return
    following = session.get(Subscription, subscription.next_subscription_id)
    if following is not None and following.status == "pending":
        _cancel(session, following, now)
