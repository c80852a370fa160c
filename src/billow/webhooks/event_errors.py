"""The ``event_errors`` periodic service: events stored since the last run that nothing can bill
are announced with Lago's ``events.errors`` webhook (and ``event.error`` for events whose metric
exists but whose subscription does not cover them).

Per organization, events are read in ``id`` order from a watermark (``event_error_watermarks``)
at most ``event_errors_batch`` at a time; the webhooks and the new watermark are written in one
transaction, so each event is reported once. Unmatched is the definition of
:func:`billow.events.service.unmatched` (the query behind ``GET /events?unmatched=true``); the
events it matches are reported as:

- ``invalid_code`` (in ``events.errors``): no live billable metric has the event's code;
- ``event.error`` (one per event, message ``{"external_subscription_id": ["subscription_not_found"]}``):
  the metric exists but no subscription with that external id covers the event's timestamp.

Events of a live metric are also checked for malformed values, still in ``events.errors``:

- ``missing_aggregation_property``: the metric aggregates a property the event does not carry;
- ``invalid_filter_values``: a property named by one of the metric's filters has a value the
  filter does not list.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.events.schemas import event_out
from billow.events.service import unmatched
from billow.jobs.worker import JobContext, periodic
from billow.models import BillableMetric, Event, EventErrorWatermark, Organization
from billow.webhooks import service

# Events younger than this are left for the next run (see :func:`check`).
SETTLE = timedelta(seconds=30)
_NEEDS_FIELD = frozenset({"sum_agg", "max_agg", "unique_count_agg", "latest_agg", "weighted_sum_agg"})


@dataclass
class Findings:
    invalid_code: list[str] = field(default_factory=list)
    missing_aggregation_property: list[str] = field(default_factory=list)
    invalid_filter_values: list[str] = field(default_factory=list)
    without_subscription: list[Event] = field(default_factory=list)
    looked_at: int = 0  # events checked

    def events_errors(self) -> dict[str, list[str]] | None:
        lists = {"invalid_code": self.invalid_code, "missing_aggregation_property": self.missing_aggregation_property,
                 "invalid_filter_values": self.invalid_filter_values}
        return {**lists, "missing_group_key": []} if any(lists.values()) else None


def _malformed(event: Event, metric: BillableMetric, findings: Findings) -> None:
    properties: dict[str, Any] = event.properties or {}
    if metric.aggregation_type in _NEEDS_FIELD and metric.field_name and metric.field_name not in properties:
        findings.missing_aggregation_property.append(event.transaction_id)
    for metric_filter in metric.filters:
        if metric_filter.key in properties and str(properties[metric_filter.key]) not in map(str, metric_filter.values):
            findings.invalid_filter_values.append(event.transaction_id)
            break


def check(session: Session, organization_id: uuid.UUID, after: int, limit: int,
          settled_before: datetime) -> tuple[Findings, int]:
    """Findings on the organization's events with ``id > after`` stored before ``settled_before``
    (at most ``limit`` of them), and the id of the last event looked at (``after`` if none).
    ``settled_before`` leaves out the last moments, whose ids may still commit out of order."""
    window = (select(Event).where(Event.organization_id == organization_id, Event.id > after,
                                  Event.created_at < settled_before)
              .order_by(Event.id).limit(limit))
    events = list(session.scalars(window))
    findings = Findings(looked_at=len(events))
    if not events:
        return findings, after
    last = events[-1].id
    unmatched_ids = set(session.scalars(
        select(Event.id).where(Event.id.in_([event.id for event in events]), unmatched())))
    codes = {event.code for event in events}
    metrics = {metric.code: metric for metric in session.scalars(
        select(BillableMetric).where(BillableMetric.organization_id == organization_id,
                                     BillableMetric.code.in_(codes), BillableMetric.deleted_at.is_(None)))}
    for event in events:
        metric = metrics.get(event.code)
        if metric is None:
            findings.invalid_code.append(event.transaction_id)
            continue
        if event.id in unmatched_ids:
            findings.without_subscription.append(event)
        _malformed(event, metric, findings)
    return findings, last


def report(session: Session, organization_id: uuid.UUID, limit: int, now: datetime) -> Findings:
    """Check the events after the organization's watermark, emit the webhooks, move the watermark."""
    mark = session.get(EventErrorWatermark, organization_id, with_for_update=True)
    if mark is None:
        mark = EventErrorWatermark(organization_id=organization_id, last_event_id=0)
        session.add(mark)
    findings, last = check(session, organization_id, mark.last_event_id, limit, now - SETTLE)
    errors = findings.events_errors()
    if errors is not None:
        service.emit(session, organization_id, "events.errors", "events_errors", errors)
    for event in findings.without_subscription:
        service.emit(session, organization_id, "event.error", "event_error", {
            "status": 422, "error": "Unprocessable entity",
            "message": {"external_subscription_id": ["subscription_not_found"]},
            "event": event_out(event),
        })
    mark.last_event_id = last
    session.flush()
    return findings


# One run keeps reading batches while an organization has more, for this long at most (the next
# run goes on from the watermark), so the reports keep up with any ingest rate.
RUN_SECONDS = 30.0


@periodic("event_errors")
def event_errors(ctx: JobContext) -> None:
    with ctx.database.unit_of_work(write=False) as session:
        organizations = list(session.scalars(select(Organization.id)))
    deadline = time.monotonic() + RUN_SECONDS
    limit = ctx.settings.event_errors_batch
    for organization_id in organizations:
        while True:
            with ctx.database.unit_of_work() as session:
                looked_at = report(session, organization_id, limit, ctx.now).looked_at
            if looked_at < limit or time.monotonic() > deadline:
                break
