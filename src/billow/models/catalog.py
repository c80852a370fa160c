"""The organization's catalog revision: raised by every flush that changes what usage is built on.

Metrics (and their filters), plans (and their versions), charges, charge filters and taxes define
how events are aggregated and priced (:mod:`billow.usage.profiles`, :mod:`billow.usage.service`).
Any flush that adds, changes or deletes one of them raises the owning organization's
``catalog_revision`` in the same transaction, so a reader that saw a revision can trust what it
derived from the catalog for as long as the revision stays the same.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from billow.models.billable_metric import BillableMetric, BillableMetricFilter
from billow.models.charge import Charge
from billow.models.charge_filter import ChargeFilter
from billow.models.organization import Organization
from billow.models.plan import Plan
from billow.models.plan_version import PlanVersion
from billow.models.tax import Tax

CATALOG = (BillableMetric, BillableMetricFilter, Charge, ChargeFilter, Plan, PlanVersion, Tax)


def _organization_of(session: Session, obj: Any) -> uuid.UUID | None:
    if isinstance(obj, BillableMetricFilter):
        metric = obj.billable_metric or session.get(BillableMetric, obj.billable_metric_id)
        return None if metric is None else metric.organization_id
    return obj.organization_id  # type: ignore[no-any-return]


@event.listens_for(Session, "before_flush")
def _raise_catalog_revision(session: Session, _context: Any, _instances: Any) -> None:
    changed = {
        organization_id
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, CATALOG) and (obj in session.new or obj in session.deleted or session.is_modified(obj))
        and (organization_id := _organization_of(session, obj)) is not None
    }
    if changed:  # what this transaction read of the revision is out of date now
        session.info.pop("catalog_revisions", None)
    for organization_id in sorted(changed):
        session.connection().execute(
            update(Organization).where(Organization.id == organization_id)
            .values(catalog_revision=Organization.catalog_revision + 1))
