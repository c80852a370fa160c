"""Copies of a plan's minimum commitment and usage thresholds onto another plan row (an override
copy), shared by :mod:`billow.plans.overrides` (making the copy) and :mod:`billow.plans.cascade`
(carrying a cascaded edit of the parent to it)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.core import clock
from billow.models import MinimumCommitment, Plan, UsageThreshold


def copy_commitment(session: Session, plan: Plan, commitment: MinimumCommitment | None) -> None:
    """``plan`` gets a commitment like ``commitment`` (none: nothing is added)."""
    if commitment is None:
        return
    session.add(MinimumCommitment(
        organization_id=plan.organization_id, plan_id=plan.id, amount_cents=commitment.amount_cents,
        invoice_display_name=commitment.invoice_display_name, taxes=list(commitment.taxes),
    ))


def copy_thresholds(session: Session, plan: Plan, thresholds: list[UsageThreshold]) -> None:
    """``plan`` gets thresholds like ``thresholds`` (added to those it has)."""
    session.add_all(
        UsageThreshold(organization_id=plan.organization_id, plan_id=plan.id, amount_cents=threshold.amount_cents,
                       recurring=threshold.recurring, threshold_display_name=threshold.threshold_display_name)
        for threshold in thresholds
    )


def replace_commitment(session: Session, plan: Plan, commitment: MinimumCommitment | None) -> None:
    """``plan``'s commitment becomes a copy of ``commitment`` (none: removed)."""
    if plan.minimum_commitment is not None:
        plan.minimum_commitment.deleted_at = clock.now()
    copy_commitment(session, plan, commitment)


def replace_thresholds(session: Session, plan: Plan, thresholds: list[UsageThreshold]) -> None:
    """``plan``'s usage thresholds become copies of ``thresholds``."""
    now = clock.now()
    for threshold in plan.usage_thresholds:
        threshold.deleted_at = now
    copy_thresholds(session, plan, thresholds)
