"""A subscription's billing periods: the pure period arithmetic of ``billow.pricing.periods``
applied to a stored subscription, its plan and its customer.

The cycle is anchored on ``subscription_at`` (kept across plan changes, so an upgraded or
downgraded subscription inherits its anniversary) and read in the customer's applicable timezone
(customer, else organization, else UTC).
"""

from __future__ import annotations

from datetime import datetime

from billow.models import Customer, Plan, Subscription
from billow.pricing.periods import BillingCycle, BillingWindow, Period


def cycle_for(subscription: Subscription, plan: Plan, customer: Customer) -> BillingCycle:
    """The plan periods of ``subscription``: the plan's interval, the subscription's billing time,
    anchored on the local date of its ``subscription_at``, in the customer's timezone."""
    return BillingCycle.for_subscription(
        plan.interval, subscription.billing_time, subscription.subscription_at, customer.applicable_timezone
    )


def _start(subscription: Subscription) -> datetime:
    return subscription.started_at or subscription.subscription_at


def _clamped(subscription: Subscription, at: datetime) -> datetime:
    """``at`` moved inside the subscription's life: not before its start, not after its termination."""
    at = max(at, _start(subscription))
    if subscription.terminated_at is not None:
        at = min(at, subscription.terminated_at)
    return at


def current_period(subscription: Subscription, plan: Plan, customer: Customer, at: datetime) -> Period:
    """The full plan period containing ``at`` (clamped to the subscription's start and termination)."""
    return cycle_for(subscription, plan, customer).period_containing(_clamped(subscription, at))


def current_window(subscription: Subscription, plan: Plan, customer: Customer, at: datetime) -> BillingWindow:
    """The charges window containing ``at``: monthly inside yearly/semiannual plans that bill charges
    monthly, else the plan period; its charges bounds start at the exact ``started_at`` and stop at
    ``terminated_at``. ``at`` before the start (or after the termination) gives the first (last) window.
    A subscription that has not started is treated as starting at ``subscription_at``.
    """
    cycle = cycle_for(subscription, plan, customer).charges_cycle(bool(plan.bill_charges_monthly))
    period = cycle.period_containing(_clamped(subscription, at))
    return cycle.window(period, started_at=_start(subscription), terminated_at=subscription.terminated_at)


def current_billing_period(
    subscription: Subscription, plan: Plan, customer: Customer, at: datetime
) -> tuple[datetime, datetime]:
    """First and last instant of the full plan period containing ``at`` (not the charges window)."""
    period = current_period(subscription, plan, customer, at)
    return period.from_datetime, period.to_datetime


__all__ = ["current_billing_period", "current_period", "current_window", "cycle_for"]
