"""The ``pay_in_advance_fees`` periodic service: the fees of pay-in-advance charges, event by event.

The ingest path stores events and nothing else; this service reads each organization's events in
``id`` (ingestion) order from a watermark (``pay_in_advance_watermarks``) and writes the fees (and
invoices) of :func:`billow.fees.service.create_for_event`. A batch's fees and the new watermark are
written in one transaction under the watermark's row lock, so each event is priced once; the
unique constraint on (charge, event) of ``fees`` is the backstop. Events younger than
``pay_in_advance_fees_settle_seconds`` wait for the next run (an id may still commit out of
order), and the batch stops at the first of them so no older id is ever skipped.

It runs every ``periodic_pay_in_advance_fees_interval`` seconds; :func:`create_fees` runs it
synchronously (tests, ``billow bill --at``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.core.db import Database
from billow.fees import service
from billow.jobs.worker import JobContext, periodic
from billow.models import Event, Organization, PayInAdvanceWatermark

# One run keeps reading batches for this long at most; the next run goes on from the watermark.
RUN_SECONDS = 30.0


@dataclass(frozen=True)
class Batch:
    looked_at: int  # events read (and the watermark moved past them)
    fees: int  # fees created
    complete: bool  # no settled event is left after this batch


def create_batch(session: Session, organization_id: uuid.UUID, limit: int, settled_before: datetime,
                 now: datetime) -> Batch:
    """Price the organization's next settled events after its watermark and move it. Never commits."""
    mark = session.get(PayInAdvanceWatermark, organization_id, with_for_update=True)
    if mark is None:
        mark = PayInAdvanceWatermark(organization_id=organization_id, last_event_id=0)
        session.add(mark)
        session.flush()
    rows = list(session.scalars(select(Event).where(Event.organization_id == organization_id,
                                                    Event.id > mark.last_event_id)
                                .order_by(Event.id).limit(limit)))
    settled = []
    for row in rows:
        if row.created_at >= settled_before:
            break
        settled.append(row)
    fees = sum(len(service.create_for_event(session, row, now)) for row in settled)
    if settled:
        mark.last_event_id = settled[-1].id
    session.flush()
    return Batch(len(settled), fees, len(settled) < limit)


def create_fees(database: Database, now: datetime, organization_id: uuid.UUID | None = None, *,
                settle: timedelta = timedelta(0), batch: int = 500, budget_seconds: float = RUN_SECONDS) -> int:
    """Create the fees of every event stored before ``now - settle`` (of one organization, or
    all), batch after batch, each batch in its own transaction. Returns how many fees."""
    with database.unit_of_work(write=False) as session:
        stmt = select(Organization.id)
        if organization_id is not None:
            stmt = stmt.where(Organization.id == organization_id)
        organizations = list(session.scalars(stmt))
    deadline = time.monotonic() + budget_seconds
    created = 0
    for organization in organizations:
        while True:
            with database.unit_of_work() as session:
                done = create_batch(session, organization, batch, now - settle, now)
            created += done.fees
            if done.complete or time.monotonic() > deadline:
                break
    return created


@periodic("pay_in_advance_fees")
def pay_in_advance_fees(ctx: JobContext) -> None:
    settings = ctx.settings
    create_fees(ctx.database, ctx.now, settle=timedelta(seconds=settings.pay_in_advance_fees_settle_seconds),
                batch=settings.pay_in_advance_fees_batch)
