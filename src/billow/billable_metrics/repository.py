from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.orm import Session

from billow.core.repository import find, get_or_404, newest_first, scoped
from billow.models import BillableMetric, Charge, Plan


def get(session: Session, organization_id: uuid.UUID, code: str) -> BillableMetric:
    return get_or_404(session, BillableMetric, organization_id, "billable_metric", code=code)


def find_by_code(session: Session, organization_id: uuid.UUID, code: str) -> BillableMetric | None:
    return find(session, BillableMetric, organization_id, code=code)


def list_query(organization_id: uuid.UUID) -> Select[tuple[BillableMetric]]:
    return newest_first(scoped(BillableMetric, organization_id), BillableMetric)


def plans_counts(session: Session, metric_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Number of live plans with a live charge on each metric (metrics without one are absent)."""
    if not metric_ids:
        return {}
    stmt = (
        select(Charge.billable_metric_id, func.count(distinct(Plan.id)))
        .join(Plan, Plan.id == Charge.plan_id)
        .where(Charge.billable_metric_id.in_(metric_ids), Charge.deleted_at.is_(None), Plan.deleted_at.is_(None))
        .group_by(Charge.billable_metric_id)
    )
    return {metric_id: count for metric_id, count in session.execute(stmt).all()}


def plans_count(session: Session, metric_id: uuid.UUID) -> int:
    return plans_counts(session, [metric_id]).get(metric_id, 0)
