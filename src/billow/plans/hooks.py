"""What the plans domain does when a billable metric changes under its charges.

The billable-metrics service calls these inside its own unit of work, after applying the change
to the metric. Plans whose pricing changes as a result get a new version (not cascaded).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from billow.models import BillableMetric, Charge, Plan
from billow.plans import charges, repository, versions


def _record(session: Session, plan_ids: set[uuid.UUID]) -> None:
    for plan_id in sorted(plan_ids):
        plan = session.get(Plan, plan_id)
        if plan is not None and plan.deleted_at is None:
            versions.record(session, plan)


def _pruned(values: dict[str, list[str]], allowed: dict[str, set[str]]) -> dict[str, list[str]]:
    kept = {
        key: [value for value in items if value == charges.ALL_FILTER_VALUES or value in allowed[key]]
        for key, items in values.items()
        if key in allowed
    }
    return {key: items for key, items in kept.items() if items}


def metric_filters_changed(session: Session, metric: BillableMetric) -> None:
    """The metric's filters changed: drop from charge filters the keys and values it no longer
    allows, and delete the charge filters left with no values (or left identical to an older one)."""
    session.flush()
    session.expire(metric, ["filters"])
    allowed = {metric_filter.key: set(metric_filter.values) for metric_filter in metric.filters}
    touched: set[uuid.UUID] = set()
    for charge in repository.charges_of_metric(session, metric.id):
        seen: set[frozenset[tuple[str, frozenset[str]]]] = set()
        for charge_filter in charge.filters:  # oldest first: the oldest of identical filters stays
            values = _pruned(charge_filter.values, allowed)
            if not values or charges.identity(values) in seen:
                charges.delete_filter(charge_filter)
                touched.add(charge.plan_id)
                continue
            seen.add(charges.identity(values))
            if values != charge_filter.values:
                charge_filter.values = values
                touched.add(charge.plan_id)
    _record(session, touched)


def metric_deleted(session: Session, metric: BillableMetric) -> None:
    """The metric was soft-deleted: the charges pricing it leave every plan."""
    doomed: list[Charge] = list(repository.charges_of_metric(session, metric.id))
    for charge in doomed:
        charges.delete_charge(charge)
    _record(session, {charge.plan_id for charge in doomed})
