"""The ``pay_in_advance_fees`` periodic service: the fees of pay-in-advance charges, event by event.

The ingest path stores events and nothing else; this service reads each organization's events in
``id`` (ingestion) order from a watermark (``pay_in_advance_watermarks``) and writes the fees (and
invoices) of :func:`billow.fees.service.create_for_event`. A batch's fees and the new watermark are
written in one transaction under the watermark's row lock, so each event is priced once; the
unique constraint on (charge, event) of ``fees`` is the backstop. Events of metrics no
pay-in-advance charge prices only move the watermark. Events younger than
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
from billow.models import BillableMetric, Charge, Event, Organization, PayInAdvanceWatermark

# One run keeps reading batches for this long at most; the next run goes on from the watermark.
RUN_SECONDS = 30.0
SKIP_FACTOR = 50


@dataclass(frozen=True)
class Batch:
    looked_at: int  # events read (and the watermark moved past them)
    fees: int  # fees created
    complete: bool  # no settled event is left after this batch


def _watermark(session: Session, organization_id: uuid.UUID, *, lock: bool) -> PayInAdvanceWatermark:
    mark = session.get(PayInAdvanceWatermark, organization_id, with_for_update=lock)
    if mark is None:
        mark = PayInAdvanceWatermark(organization_id=organization_id, last_event_id=0)
        session.add(mark)
        session.flush()
    return mark


def _in_advance_codes(session: Session, organization_id: uuid.UUID) -> set[str]:
    """Codes of the metrics any pay-in-advance charge of the organization prices (deleted ones too:
    a subscription may still be priced on a plan version that has them)."""
    return set(session.scalars(select(BillableMetric.code).join(Charge, Charge.billable_metric_id == BillableMetric.id)
                               .where(Charge.organization_id == organization_id, Charge.pay_in_advance.is_(True))))


def _next_events(session: Session, organization_id: uuid.UUID, after: int, limit: int,
                 settled_before: datetime) -> tuple[list[tuple[int, str]], bool]:
    """(id, code) of the settled events after ``after`` (at most ``limit``), and whether that is all
    for now: the list stops at the first event younger than ``settled_before``."""
    rows = session.execute(select(Event.id, Event.code, Event.created_at)
                           .where(Event.organization_id == organization_id, Event.id > after)
                           .order_by(Event.id).limit(limit)).all()
    settled = []
    for event_id, code, created_at in rows:
        if created_at >= settled_before:
            return settled, True
        settled.append((event_id, code))
    return settled, len(rows) < limit


def create_batch(database: Database, organization_id: uuid.UUID, limit: int, settled_before: datetime,
                 now: datetime) -> Batch:
    """Price the organization's next settled events after its watermark and move it past them.

    The events are looked at in a read-only transaction; the write transaction (which holds the
    watermark's lock) is taken only to move the watermark and, if some events bill a pay-in-advance
    charge, to write their fees, so an organization without such charges costs the ingest nothing
    but a one-row update now and then."""
    with database.unit_of_work(write=False) as session:
        mark = session.get(PayInAdvanceWatermark, organization_id)
        after = mark.last_event_id if mark is not None else 0
        codes = _in_advance_codes(session, organization_id)
        # Without pay-in-advance charges the events are only skipped: larger steps.
        events, complete = _next_events(session, organization_id, after, limit if codes else limit * SKIP_FACTOR,
                                        settled_before)
    if not events:
        return Batch(0, 0, True)
    fees = 0
    with database.unit_of_work() as session:
        mark = _watermark(session, organization_id, lock=True)
        if mark.last_event_id != after:  # another run moved it meanwhile: the next round goes on from there
            return Batch(0, 0, False)
        priced = [event_id for event_id, code in events if code in codes]
        if priced:
            for row in session.scalars(select(Event).where(Event.id.in_(priced)).order_by(Event.id)):
                fees += len(service.create_for_event(session, row, now))
        mark.last_event_id = events[-1][0]
        session.flush()
    return Batch(len(events), fees, complete)


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
            done = create_batch(database, organization, batch, now - settle, now)
            created += done.fees
            if done.complete or time.monotonic() > deadline:
                break
    return created


@periodic("pay_in_advance_fees")
def pay_in_advance_fees(ctx: JobContext) -> None:
    settings = ctx.settings
    create_fees(ctx.database, ctx.now, settle=timedelta(seconds=settings.pay_in_advance_fees_settle_seconds),
                batch=settings.pay_in_advance_fees_batch)
