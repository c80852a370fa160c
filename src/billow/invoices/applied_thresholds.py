"""The ``applied_usage_thresholds`` of an invoice: the thresholds a progressive invoice was issued
for (lago-api-surface.md, AppliedUsageThresholdObject)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.core.wire import iso_utc
from billow.models import AppliedUsageThreshold, Invoice, UsageThreshold


def threshold_json(applied: AppliedUsageThreshold, threshold: UsageThreshold | None) -> dict[str, Any]:
    """Lago's UsageThresholdObject, as the threshold was when it was passed."""
    return {
        "lago_id": str(applied.usage_threshold_id) if applied.usage_threshold_id else None,
        "threshold_display_name": applied.threshold_display_name,
        "amount_cents": applied.amount_cents,
        "recurring": applied.recurring,
        "created_at": iso_utc(threshold.created_at if threshold is not None else applied.created_at),
        "updated_at": iso_utc(threshold.updated_at if threshold is not None else applied.created_at),
    }


def applied_thresholds_json(session: Session, invoice: Invoice) -> list[dict[str, Any]]:
    if invoice.invoice_type != "progressive_billing":
        return []
    rows = session.execute(
        select(AppliedUsageThreshold, UsageThreshold)
        .outerjoin(UsageThreshold, UsageThreshold.id == AppliedUsageThreshold.usage_threshold_id)
        .where(AppliedUsageThreshold.invoice_id == invoice.id)
        .order_by(AppliedUsageThreshold.recurring, AppliedUsageThreshold.amount_cents)).all()
    return [{"lifetime_usage_amount_cents": applied.lifetime_usage_amount_cents,
             "created_at": iso_utc(applied.created_at),
             "usage_threshold": threshold_json(applied, threshold)} for applied, threshold in rows]


__all__ = ["applied_thresholds_json", "threshold_json"]
