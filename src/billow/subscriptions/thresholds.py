"""The usage thresholds that apply to a subscription (Lago's ``applicable_usage_thresholds``,
lago-payments-wallets-alerts.md 5.2): none while ``progressive_billing_disabled``; else the
thresholds given on the subscription itself, if any; else those of its plan (at the version it
bills with); else, for a plan override copy, those of the parent plan.

Progressive billing (:mod:`billow.invoices.progressive`) and the wire read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from billow.models import Plan, Subscription, UsageThreshold
from billow.plans import versions


@dataclass(frozen=True)
class Applicable:
    amount_cents: int
    recurring: bool
    threshold_display_name: str | None


def _plan_thresholds(session: Session, subscription: Subscription) -> tuple[versions.ThresholdPrice, ...]:
    plan = subscription.plan
    number = versions.effective_version(session, plan, subscription.plan_version)
    found = versions.version_snapshot(session, plan, number).usage_thresholds
    if found or plan.parent_id is None:
        return found
    return versions.version_snapshot(session, session.get_one(Plan, plan.parent_id)).usage_thresholds


def rows(session: Session, subscription: Subscription) -> dict[tuple[int, bool], UsageThreshold]:
    """The threshold rows the applicable ones come from, by (amount, recurring), deleted ones too
    (current ones win): for the display name and id of a threshold passed."""
    if subscription.usage_thresholds:
        owners: list[ColumnElement[bool]] = [UsageThreshold.subscription_id == subscription.id]
    else:
        owners = [UsageThreshold.plan_id == plan_id for plan_id in (subscription.plan.parent_id, subscription.plan_id)
                  if plan_id is not None]
    found: dict[tuple[int, bool], UsageThreshold] = {}
    for owner in owners:  # the parent's first: the plan's own rows win
        stmt = select(UsageThreshold).where(owner).order_by(UsageThreshold.deleted_at.is_(None),
                                                            UsageThreshold.created_at)
        found.update({(row.amount_cents, row.recurring): row for row in session.scalars(stmt)})
    return found


def applicable(session: Session, subscription: Subscription) -> tuple[Applicable, ...]:
    if subscription.progressive_billing_disabled:
        return ()
    own = subscription.usage_thresholds
    if own:
        return tuple(Applicable(t.amount_cents, t.recurring, t.threshold_display_name) for t in own)
    priced = _plan_thresholds(session, subscription)
    if not priced:
        return ()
    named = rows(session, subscription)
    return tuple(
        Applicable(t.amount_cents, t.recurring, getattr(named.get((t.amount_cents, t.recurring)),
                                                        "threshold_display_name", None))
        for t in priced
    )


def may_apply() -> ColumnElement[bool]:
    """SQL: the subscription may have applicable thresholds (progressive billing's candidates)."""
    parent = aliased(Plan)
    of_parent = exists().where(parent.id == Subscription.plan_id, parent.parent_id.is_not(None),
                               UsageThreshold.plan_id == parent.parent_id)
    return and_(
        Subscription.progressive_billing_disabled.is_(False),
        or_(exists().where(UsageThreshold.plan_id == Subscription.plan_id),
            exists().where(UsageThreshold.subscription_id == Subscription.id), of_parent),
    )


def applicable_json(session: Session, subscription: Subscription) -> list[dict[str, Any]]:
    return [{"threshold_display_name": t.threshold_display_name, "amount_cents": t.amount_cents,
             "recurring": t.recurring} for t in applicable(session, subscription)]
