"""What a subscription does on its own as time passes, applied by the billing run before billing:
a subscription created for a future date starts on it, a scheduled downgrade switches plans on
the first day of the next period (customer timezone), and ``ending_at`` terminates it. Nothing
here commits; :func:`due` lists the subscriptions with something due, :func:`apply` applies it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from billow.models import Subscription
from billow.pricing.periods import start_of_local_day
from billow.subscriptions import service


def due(session: Session, at: datetime, organization_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """Subscriptions that may have a start, a downgrade or an end due by ``at`` (checked by :func:`apply`)."""
    stmt = select(Subscription.id).where(or_(
        and_(Subscription.status == "pending", Subscription.previous_subscription_id.is_(None),
             Subscription.subscription_at <= at),
        and_(Subscription.status == "active", Subscription.ending_at <= at),
        and_(Subscription.status == "active", Subscription.downgrade_plan_date.is_not(None)),
    ))
    if organization_id is not None:
        stmt = stmt.where(Subscription.organization_id == organization_id)
    return list(session.scalars(stmt.order_by(Subscription.subscription_at, Subscription.id)))


def apply(session: Session, subscription_id: uuid.UUID, at: datetime) -> str | None:
    """Apply what is due on the subscription by ``at``; returns what was done, if anything."""
    subscription = session.get(Subscription, subscription_id, with_for_update=True)
    if subscription is None:
        return None
    if subscription.status == "pending" and subscription.previous_subscription_id is None:
        if subscription.subscription_at > at:
            return None
        subscription.status, subscription.started_at = "active", subscription.subscription_at
        service.announce(session, subscription, "subscription.started")
        return "started"
    if subscription.status != "active":
        return None
    following = subscription.next_subscription
    if subscription.downgrade_plan_date is not None and following is not None and following.status == "pending":
        switch = start_of_local_day(subscription.downgrade_plan_date, subscription.customer.applicable_timezone)
        if switch <= at and (subscription.ending_at is None or switch <= subscription.ending_at):
            subscription.status, subscription.terminated_at = "terminated", switch
            session.flush()  # the old row leaves "active" before the new one takes its external id
            following.status, following.started_at = "active", switch
            service.announce(session, subscription, "subscription.terminated")
            service.announce(session, following, "subscription.started")
            return "downgraded"
    if subscription.ending_at is not None and subscription.ending_at <= at:
        if following is not None and following.status == "pending":
            following.status, following.canceled_at = "canceled", subscription.ending_at
        subscription.status, subscription.terminated_at = "terminated", subscription.ending_at
        service.announce(session, subscription, "subscription.terminated")
        return "terminated"
    return None
