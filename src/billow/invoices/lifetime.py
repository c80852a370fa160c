"""A subscription's lifetime usage (lago-payments-wallets-alerts.md 5.1), read from invoices and
current usage, and its historical part set through ``PUT /subscriptions/{id}/lifetime_usage``.

* historical: the ``lifetime_usages`` row of the subscription (0 without one);
* invoiced usage: the charge fees of usage invoices (not voided, not progressive) of every
  subscription of the organization with the same external id (a plan change keeps counting);
* progressive billed: the fees of the latest progressive invoice of the current charges period;
* current usage: :func:`billow.usage.service.current_usage` without taxes, as invoices price it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billow.core.wire import iso_utc
from billow.invoices.progressive_credits import latest_progressive
from billow.models import AppliedUsageThreshold, Fee, Invoice, LifetimeUsage, Subscription
from billow.pricing import progressive
from billow.usage.service import Usage, current_usage


@dataclass(frozen=True)
class Lifetime:
    usage: progressive.LifetimeUsage
    period: Usage  # the current charges period's usage
    latest: Invoice | None  # the latest progressive invoice of the current period


def historical_row(session: Session, subscription: Subscription) -> LifetimeUsage | None:
    return session.scalar(select(LifetimeUsage).where(LifetimeUsage.subscription_id == subscription.id))


def invoiced_usage_cents(session: Session, subscription: Subscription) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(Fee.amount_cents), 0))
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .join(Subscription, Subscription.id == Fee.subscription_id)
        .where(Subscription.organization_id == subscription.organization_id,
               Subscription.external_id == subscription.external_id, Fee.fee_type == "charge",
               Invoice.invoice_type == "subscription", Invoice.status.in_(("draft", "finalized"))))
    return int(total or 0)


def lifetime_usage(session: Session, subscription: Subscription, at: datetime) -> Lifetime:
    """The subscription's lifetime usage at ``at``."""
    period = current_usage(session, subscription.organization_id, subscription.customer, subscription, at,
                           apply_taxes=False)
    latest = latest_progressive(session, subscription.id, period.from_datetime, period.to_datetime)
    row = historical_row(session, subscription)
    usage = progressive.LifetimeUsage(
        historical_cents=row.historical_usage_amount_cents if row is not None else 0,
        invoiced_usage_cents=invoiced_usage_cents(session, subscription),
        progressive_billed_cents=latest.fees_amount_cents if latest is not None else 0,
        current_usage_cents=period.amount_cents)
    return Lifetime(usage, period, latest)


def lifetime_usage_id(subscription: Subscription) -> uuid.UUID:
    """The ``lago_id`` of the subscription's lifetime usage, the same before its row exists (a
    read writes nothing) and after."""
    return uuid.uuid5(subscription.id, "lifetime_usage")


def set_historical(session: Session, subscription: Subscription, amount_cents: int) -> None:
    row = historical_row(session, subscription)
    if row is None:
        row = LifetimeUsage(id=lifetime_usage_id(subscription), organization_id=subscription.organization_id,
                            subscription_id=subscription.id)
        session.add(row)
    row.historical_usage_amount_cents = amount_cents
    session.flush()


def _reached(session: Session, subscription: Subscription) -> dict[int, datetime]:
    """When each fixed threshold was passed (by a progressive invoice not voided), by amount."""
    rows = session.execute(
        select(AppliedUsageThreshold.amount_cents, func.min(AppliedUsageThreshold.created_at))
        .join(Invoice, Invoice.id == AppliedUsageThreshold.invoice_id)
        .join(Subscription, Subscription.id == AppliedUsageThreshold.subscription_id)
        .where(Subscription.organization_id == subscription.organization_id,
               Subscription.external_id == subscription.external_id, AppliedUsageThreshold.recurring.is_(False),
               Invoice.status != "voided")
        .group_by(AppliedUsageThreshold.amount_cents))
    return {amount: at for amount, at in rows}


def lifetime_json(session: Session, subscription: Subscription, at: datetime) -> dict[str, Any]:
    """Lago's LifetimeUsageObject: usage billed outside Billow, invoiced and of the current period,
    and how far lifetime usage went towards each usage threshold."""
    from billow.invoices.progressive import thresholds  # progressive bills with this module

    usage = lifetime_usage(session, subscription, at).usage
    total = usage.historical_cents + usage.invoiced_usage_cents + usage.current_usage_cents
    reached = _reached(session, subscription)
    return {
        "lago_id": str(lifetime_usage_id(subscription)),
        "lago_subscription_id": str(subscription.id),
        "external_subscription_id": subscription.external_id,
        "external_historical_usage_amount_cents": usage.historical_cents,
        "invoiced_usage_amount_cents": usage.invoiced_usage_cents,
        "current_usage_amount_cents": usage.current_usage_cents,
        "from_datetime": iso_utc(subscription.subscription_at),
        "to_datetime": iso_utc(at),
        "usage_thresholds": [
            {"amount_cents": c.amount_cents, "completion_ratio": float(c.completion_ratio),
             "reached_at": iso_utc(reached[c.amount_cents]) if c.reached and c.amount_cents in reached else None}
            for c in progressive.completion_ratios(thresholds(session, subscription), total)],
    }


__all__ = ["Lifetime", "historical_row", "invoiced_usage_cents", "lifetime_json", "lifetime_usage", "lifetime_usage_id",
           "set_historical"]
