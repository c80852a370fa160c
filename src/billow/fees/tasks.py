"""The ``pay_in_advance_fees`` periodic service: the fees of pay-in-advance charges, event by event.

The ingest path stores events and nothing else; this service reads each organization's events in
``id`` (ingestion) order from its watermark (:mod:`billow.jobs.watermarks`, service
``pay_in_advance_fees``) and writes the fees (and invoices) of
:func:`billow.fees.service.create_for_event`. A batch's fees and the new watermark are written in one
transaction under the watermark's row lock, so each event is priced once; the unique constraint on
(charge, event) of ``fees`` is the backstop. Events of metrics no pay-in-advance charge prices only
move the watermark. Events younger than ``pay_in_advance_fees_settle_seconds`` wait for the next run
(an id may still commit out of order), and the batch stops at the first of them so no older id is
ever skipped.

An organization without any pay-in-advance charge (deleted ones count: a subscription may still be
priced on a plan version that has one) has its watermark moved past its settled events without
reading them (:class:`billow.jobs.watermarks.Walker`). The rule: events stored before the
organization's first pay-in-advance charge existed are not billed in advance when it is created
(except those still within the settle delay then, which no run had passed yet); events stored after
it are. Before this shortcut a run read such events and priced them against no charge, which came to
the same.

It runs every ``periodic_pay_in_advance_fees_interval`` seconds; :func:`create_fees` runs it
synchronously (tests, ``billow bill --at``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.core.db import Database
from billow.fees import service
from billow.jobs import watermarks
from billow.jobs.worker import JobContext, periodic
from billow.models import BillableMetric, Charge, Event

SERVICE = "pay_in_advance_fees"
RUN_SECONDS = watermarks.RUN_SECONDS


def _in_advance_codes(session: Session, organization_id: uuid.UUID) -> set[str]:
    """Codes of the metrics any pay-in-advance charge of the organization prices (deleted ones too:
    a subscription may still be priced on a plan version that has them)."""
    return set(session.scalars(select(BillableMetric.code).join(Charge, Charge.billable_metric_id == BillableMetric.id)
                               .where(Charge.organization_id == organization_id, Charge.pay_in_advance.is_(True))))


def has_in_advance_charges(session: Session, organization_id: uuid.UUID, now: datetime) -> bool:
    """Whether the organization's events can bill anything in advance: one indexed existence test."""
    return session.scalar(select(Charge.id).where(Charge.organization_id == organization_id,
                                                  Charge.pay_in_advance.is_(True)).limit(1)) is not None


def _batch(limit: int) -> watermarks.ReadBatch:
    def read_batch(database: Database, organization_id: uuid.UUID, after: int, settled_before: datetime,
                   now: datetime) -> watermarks.Step:
        """Price the organization's next settled events after ``after`` and move the watermark past
        them. The events are looked at in a read-only transaction; the write transaction (which
        holds the watermark's lock) is taken only to move it and write the fees."""
        with database.unit_of_work(write=False) as session:
            codes = _in_advance_codes(session, organization_id)
            events = watermarks.next_events(session, organization_id, after, limit, settled_before, Event.code)
        if not events.rows:
            return watermarks.NOTHING
        fees = 0
        with database.unit_of_work() as session:
            mark = watermarks.lock(session, SERVICE, organization_id)
            if mark.last_event_id != after:  # another run moved it meanwhile: the next round goes on from there
                return watermarks.Step(0, 0, False)
            priced = [row.id for row in events.rows if row.code in codes]
            if priced:
                for event in session.scalars(select(Event).where(Event.id.in_(priced)).order_by(Event.id)):
                    fees += len(service.create_for_event(session, event, now))
            mark.last_event_id = events.rows[-1].id
            session.flush()
        return watermarks.Step(len(events.rows), fees, events.complete)
    return read_batch


def walker(batch: int = 500) -> watermarks.Walker:
    return watermarks.Walker(SERVICE, has_in_advance_charges, _batch(batch))


def create_fees(database: Database, now: datetime, organization_id: uuid.UUID | None = None, *,
                settle: timedelta = timedelta(0), batch: int = 500, budget_seconds: float = RUN_SECONDS) -> int:
    """Create the fees of every event stored before ``now - settle`` (of one organization, or
    all), batch after batch, each batch in its own transaction. Returns how many fees."""
    return walker(batch).walk(database, now, settle, organization_id, budget_seconds)


@periodic("pay_in_advance_fees")
def pay_in_advance_fees(ctx: JobContext) -> None:
    settings = ctx.settings
    create_fees(ctx.database, ctx.now, settle=timedelta(seconds=settings.pay_in_advance_fees_settle_seconds),
                batch=settings.pay_in_advance_fees_batch)
