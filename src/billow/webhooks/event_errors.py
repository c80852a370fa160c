"""The ``event_errors`` periodic service: events stored since the last run that nothing can bill
are announced with Lago's ``events.errors`` webhook (and ``event.error`` for events whose metric
exists but whose subscription does not cover them).

Per organization, events are read in ``id`` order from a watermark (:mod:`billow.jobs.watermarks`,
service ``event_errors``) at most ``event_errors_batch`` at a time, with one query a batch (the
event's columns and whether it is unmatched); the webhooks and the new watermark are written in one
transaction, so each event is reported once. An organization without an endpoint that listens to
``events.errors`` or ``event.error`` would be told nothing: its watermark jumps past its settled
events without reading them. Unmatched is the definition of
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

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.core.db import Database
from billow.events.schemas import event_out
from billow.events.service import unmatched
from billow.jobs import watermarks
from billow.jobs.worker import JobContext, periodic
from billow.models import BillableMetric, Event, WebhookEndpoint
from billow.webhooks import repository, service

SERVICE = "event_errors"
# Events younger than this are left for the next run (see :func:`check`).
SETTLE = watermarks.SETTLE
RUN_SECONDS = watermarks.RUN_SECONDS
TYPES = ("events.errors", "event.error")
_NEEDS_FIELD = frozenset({"sum_agg", "max_agg", "unique_count_agg", "latest_agg", "weighted_sum_agg"})
# What a batch reads of each event: what the checks and the ``event.error`` body need.
_COLUMNS = (Event.lago_id, Event.transaction_id, Event.external_subscription_id, Event.code, Event.timestamp,
            Event.properties, Event.precise_total_amount_cents, unmatched().label("unmatched"))


@dataclass
class Findings:
    invalid_code: list[str] = field(default_factory=list)
    missing_aggregation_property: list[str] = field(default_factory=list)
    invalid_filter_values: list[str] = field(default_factory=list)
    without_subscription: list[Any] = field(default_factory=list)  # the events' rows
    looked_at: int = 0  # events checked
    complete: bool = True  # nothing settled is left after them

    def events_errors(self) -> dict[str, list[str]] | None:
        lists = {"invalid_code": self.invalid_code, "missing_aggregation_property": self.missing_aggregation_property,
                 "invalid_filter_values": self.invalid_filter_values}
        return {**lists, "missing_group_key": []} if any(lists.values()) else None


def _malformed(event: Any, metric: BillableMetric, findings: Findings) -> None:
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
    (at most ``limit`` of them, stopping at the first younger one), and the id of the last event
    looked at (``after`` if none). ``settled_before`` leaves out the last moments, whose ids may
    still commit out of order."""
    events = watermarks.next_events(session, organization_id, after, limit, settled_before, *_COLUMNS)
    findings = Findings(looked_at=len(events.rows), complete=events.complete)
    if not events.rows:
        return findings, after
    codes = {event.code for event in events.rows}
    metrics = {metric.code: metric for metric in session.scalars(
        select(BillableMetric).where(BillableMetric.organization_id == organization_id,
                                     BillableMetric.code.in_(codes), BillableMetric.deleted_at.is_(None)))}
    for event in events.rows:
        metric = metrics.get(event.code)
        if metric is None:
            findings.invalid_code.append(event.transaction_id)
            continue
        if event.unmatched:
            findings.without_subscription.append(event)
        _malformed(event, metric, findings)
    return findings, events.rows[-1].id


def report(session: Session, organization_id: uuid.UUID, limit: int, now: datetime) -> Findings:
    """Check the events after the organization's watermark, emit the webhooks, move the watermark."""
    mark = watermarks.lock(session, SERVICE, organization_id)
    findings, last = check(session, organization_id, mark.last_event_id, limit, now - SETTLE)
    endpoints = _listening(session, organization_id) if findings.looked_at else []
    errors = findings.events_errors()
    if errors is not None:
        service.emit(session, organization_id, "events.errors", "events_errors", errors, endpoints_of=endpoints)
    for event in findings.without_subscription:
        service.emit(session, organization_id, "event.error", "event_error", {
            "status": 422, "error": "Unprocessable entity",
            "message": {"external_subscription_id": ["subscription_not_found"]},
            "event": event_out(event),
        }, endpoints_of=endpoints)
    mark.last_event_id = last
    session.flush()
    return findings


def _listening(session: Session, organization_id: uuid.UUID) -> list[WebhookEndpoint]:
    """The organization's endpoints that listen to ``events.errors`` or ``event.error``."""
    return [endpoint for endpoint in repository.endpoints_for(session, organization_id)
            if any(service.listens(endpoint, webhook_type) for webhook_type in TYPES)]


def has_listeners(session: Session, organization_id: uuid.UUID, now: datetime) -> bool:
    return bool(_listening(session, organization_id))


def _batch(limit: int) -> watermarks.ReadBatch:
    def read_batch(database: Database, organization_id: uuid.UUID, after: int, settled_before: datetime,
                   now: datetime) -> watermarks.Step:
        with database.unit_of_work() as session:
            findings = report(session, organization_id, limit, now)
        return watermarks.Step(findings.looked_at, findings.looked_at, findings.complete)
    return read_batch


def walker(limit: int) -> watermarks.Walker:
    return watermarks.Walker(SERVICE, has_listeners, _batch(limit))


@periodic("event_errors")
def event_errors(ctx: JobContext) -> None:
    walker(ctx.settings.event_errors_batch).walk(ctx.database, ctx.now, SETTLE)
