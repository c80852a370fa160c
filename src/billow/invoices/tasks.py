"""The ``draft_refresh`` periodic service: drafts follow the events that arrive during their grace
period, without a manual ``PUT /invoices/{id}/refresh`` and without waiting for the billing clock.

Per organization, the events stored since the last run (``events.id`` above the watermark kept in
``draft_refresh_watermarks``, read in ``id`` order, a batch at a time) name the subscriptions they
concern; every draft still in its grace period that bills one of those subscriptions is priced
again by :func:`billow.invoices.service.recompute`, each in its own transaction, and then the
watermark moves past the batch. A run stopped in between prices those drafts again on the next
run, which changes nothing. Events younger than
:data:`billow.webhooks.event_errors.SETTLE` are left for the next run: their ids may still commit
out of order. The service only reads events: ingestion is not slowed by it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from billow.core.db import Database
from billow.invoices import repository, service
from billow.jobs.worker import JobContext, periodic
from billow.models import DraftRefreshWatermark, Event, Organization
from billow.webhooks.event_errors import SETTLE

# One run keeps reading batches of an organization for this long at most.
RUN_SECONDS = 30.0


@dataclass(frozen=True)
class Batch:
    looked_at: int  # events read
    refreshed: int  # drafts priced again


def refresh_batch(database: Database, organization_id: uuid.UUID, limit: int, now: datetime) -> Batch:
    """Read the next batch of the organization's events and price again the drafts they concern.
    An organization without a draft in its grace period has nothing to refresh: the watermark
    moves past its settled events without reading them."""
    settled = now - SETTLE
    with database.unit_of_work(write=False) as session:
        mark = session.get(DraftRefreshWatermark, organization_id)
        after = mark.last_event_id if mark is not None else 0
        if not repository.drafts_in_grace(session, now, organization_id):
            newest = session.scalar(select(func.max(Event.id)).where(
                Event.organization_id == organization_id, Event.id > after, Event.created_at < settled))
            if newest is not None:
                _move(database, organization_id, newest)
            return Batch(0, 0)
        rows = session.execute(
            select(Event.id, Event.external_subscription_id)
            .where(Event.organization_id == organization_id, Event.id > after, Event.created_at < settled)
            .order_by(Event.id).limit(limit)).all()
        touched = {external_id for _, external_id in rows}
        drafts = repository.drafts_billing(session, organization_id, touched, now) if touched else []
    if not rows:
        return Batch(0, 0)
    refreshed = service.reprice_drafts(database, drafts)
    _move(database, organization_id, rows[-1].id)
    return Batch(len(rows), refreshed)


def _move(database: Database, organization_id: uuid.UUID, last_event_id: int) -> None:
    with database.unit_of_work() as session:
        mark = session.get(DraftRefreshWatermark, organization_id, with_for_update=True)
        if mark is None:
            mark = DraftRefreshWatermark(organization_id=organization_id, last_event_id=0)
            session.add(mark)
        mark.last_event_id = max(mark.last_event_id, last_event_id)


def refresh_drafts(database: Database, limit: int, now: datetime) -> int:
    """Every organization's batches until none is left (or the run's time is up); how many drafts
    were priced again."""
    with database.unit_of_work(write=False) as session:
        organizations = list(session.scalars(select(Organization.id)))
    deadline = time.monotonic() + RUN_SECONDS
    refreshed = 0
    for organization_id in organizations:
        batch = Batch(limit, 0)
        while batch.looked_at == limit and time.monotonic() <= deadline:
            batch = refresh_batch(database, organization_id, limit, now)
            refreshed += batch.refreshed
    return refreshed


@periodic("draft_refresh")
def draft_refresh(ctx: JobContext) -> None:
    refresh_drafts(ctx.database, ctx.settings.draft_refresh_batch, ctx.now)


__all__ = ["Batch", "draft_refresh", "refresh_batch", "refresh_drafts"]
