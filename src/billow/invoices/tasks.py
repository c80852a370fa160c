"""The ``draft_refresh`` periodic service: drafts follow the events that arrive during their grace
period, without a manual ``PUT /invoices/{id}/refresh`` and without waiting for the billing clock.

Per organization, the events stored since the last run (``events.id`` above its watermark in
:mod:`billow.jobs.watermarks`, service ``draft_refresh``, read in ``id`` order, a batch at a time)
name the subscriptions they concern; every draft still in its grace period that bills one of those
subscriptions is priced again by :func:`billow.invoices.service.recompute`, each in its own
transaction, and then the watermark moves past the batch. A run stopped in between prices those
drafts again on the next run, which changes nothing. Events younger than
:data:`billow.jobs.watermarks.SETTLE` are left for the next run: their ids may still commit out of
order. An organization without a draft in its grace period has nothing to refresh: its watermark
jumps past its settled events without reading them (a draft created later is priced from every
event when it is created, and by every billing run). The service only reads events: ingestion is
not slowed by it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billow.core.db import Database
from billow.invoices import repository, service
from billow.jobs import watermarks
from billow.jobs.worker import JobContext, periodic
from billow.models import Event

SERVICE = "draft_refresh"


@dataclass(frozen=True)
class Batch:
    looked_at: int  # events read
    refreshed: int  # drafts priced again


def has_drafts_in_grace(session: Session, organization_id: uuid.UUID, now: datetime) -> bool:
    return bool(repository.drafts_in_grace(session, now, organization_id))


def _batch(limit: int) -> watermarks.ReadBatch:
    def read_batch(database: Database, organization_id: uuid.UUID, after: int, settled_before: datetime,
                   now: datetime) -> watermarks.Step:
        with database.unit_of_work(write=False) as session:
            events = watermarks.next_events(session, organization_id, after, limit, settled_before,
                                            Event.external_subscription_id)
            touched = {row.external_subscription_id for row in events.rows}
            drafts = repository.drafts_billing(session, organization_id, touched, now) if touched else []
        if not events.rows:
            return watermarks.NOTHING
        refreshed = service.reprice_drafts(database, drafts)
        with database.unit_of_work() as session:
            watermarks.move(session, SERVICE, organization_id, events.rows[-1].id)
        return watermarks.Step(len(events.rows), refreshed, events.complete)
    return read_batch


def walker(limit: int) -> watermarks.Walker:
    return watermarks.Walker(SERVICE, has_drafts_in_grace, _batch(limit))


def refresh_batch(database: Database, organization_id: uuid.UUID, limit: int, now: datetime) -> Batch:
    """Read the next batch of the organization's events and price again the drafts they concern.
    An organization without a draft in its grace period has nothing to refresh: the watermark
    moves past its settled events without reading them."""
    step = walker(limit).step(database, organization_id, now - watermarks.SETTLE, now)
    return Batch(step.read, step.done)


def refresh_drafts(database: Database, limit: int, now: datetime) -> int:
    """Every organization's batches until none is left (or the run's time is up); how many drafts
    were priced again."""
    return walker(limit).walk(database, now)


@periodic("draft_refresh")
def draft_refresh(ctx: JobContext) -> None:
    refresh_drafts(ctx.database, ctx.settings.draft_refresh_batch, ctx.now)


__all__ = ["Batch", "draft_refresh", "refresh_batch", "refresh_drafts"]
