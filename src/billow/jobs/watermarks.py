"""Event watermarks: how the periodic services that follow new events (``event_errors``,
``draft_refresh``, ``pay_in_advance_fees``) walk each organization's events.

Each service keeps, per organization, the id of the last event it has dealt with (a row of
``event_watermarks`` keyed by service and organization). A run reads the events after it in ``id``
(ingestion) order, a batch at a time, and moves it in the transaction that records what the batch
produced, so each event is dealt with once. Events stored less than a settle delay ago are left for
a later run: their ids may still commit out of order, so a batch stops at the first of them and no
older id is ever passed over.

A service also says whether an organization needs its events read at all (:class:`Walker`
``needs_events``: a pay-in-advance charge exists, a draft is in its grace period, an endpoint
listens). When it does not, the watermark jumps to the organization's newest settled event with one
indexed query, without reading events: those events would have produced nothing.

Nothing here commits: :func:`move` writes in the caller's transaction; :func:`walk` and
:meth:`Walker.step` open their own units of work, as a periodic job does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from billow.core.db import Database
from billow.models import Event, EventWatermark, Organization

# The default settle delay: events younger than this are left for the next run.
SETTLE = timedelta(seconds=30)
# One run keeps reading batches while an organization has more, for this long at most (the next run
# goes on from the watermark), so the services keep up with any ingest rate.
RUN_SECONDS = 30.0


def position(session: Session, service: str, organization_id: uuid.UUID) -> int:
    """The id of the last event ``service`` has dealt with for the organization (0: none yet)."""
    mark = session.get(EventWatermark, (service, organization_id))
    return mark.last_event_id if mark is not None else 0


def lock(session: Session, service: str, organization_id: uuid.UUID) -> EventWatermark:
    """The organization's watermark for ``service``, locked for the caller's transaction (a new row
    at 0 if there is none yet)."""
    mark = session.get(EventWatermark, (service, organization_id), with_for_update=True)
    if mark is None:
        mark = EventWatermark(service=service, organization_id=organization_id, last_event_id=0)
        session.add(mark)
        session.flush()
    return mark


def move(session: Session, service: str, organization_id: uuid.UUID, last_event_id: int) -> None:
    """Move the watermark forward to ``last_event_id`` in the caller's transaction (never back)."""
    mark = lock(session, service, organization_id)
    if last_event_id > mark.last_event_id:
        mark.last_event_id = last_event_id
        session.flush()


@dataclass(frozen=True)
class Settled:
    rows: list[Row[Any]]  # (id, created_at, *columns) of each event, in id order
    complete: bool  # no settled event is left after these


def next_events(session: Session, organization_id: uuid.UUID, after: int, limit: int, settled_before: datetime,
                *columns: Any) -> Settled:
    """The organization's next events after ``after`` (at most ``limit``), with ``columns``; the list
    stops at the first event stored at or after ``settled_before``."""
    rows = session.execute(select(Event.id, Event.created_at, *columns)
                           .where(Event.organization_id == organization_id, Event.id > after)
                           .order_by(Event.id).limit(limit)).all()
    for index, row in enumerate(rows):
        if row.created_at >= settled_before:
            return Settled(rows[:index], True)
    return Settled(list(rows), len(rows) < limit)


def settled_max(session: Session, organization_id: uuid.UUID, after: int, settled_before: datetime) -> int | None:
    """The id of the organization's newest event after ``after`` stored before ``settled_before``
    (None if there is none): a backward walk of the (organization, id, created_at) index that stops at
    the first settled entry, so it reads only the index entries of the settle window, no event row."""
    return session.scalar(select(Event.id).where(Event.organization_id == organization_id, Event.id > after,
                                                 Event.created_at < settled_before)
                          .order_by(Event.id.desc()).limit(1))


@dataclass(frozen=True)
class Step:
    read: int  # events read (the watermark moved past them)
    done: int  # what the service produced from them (fees, drafts priced again, webhooks...)
    complete: bool  # nothing settled is left for now: the walk goes on with the next organization


NOTHING = Step(0, 0, True)
NeedsEvents = Callable[[Session, uuid.UUID, datetime], bool]
ReadBatch = Callable[[Database, uuid.UUID, int, datetime, datetime], Step]


@dataclass(frozen=True)
class Walker:
    """A periodic service that follows an organization's events from its watermark.

    ``needs_events(session, organization_id, now)`` is the cheap test of whether the organization's
    events can produce anything now; ``read_batch(database, organization_id, after, settled_before,
    now)`` deals with the next batch after ``after`` and moves the watermark past it."""

    service: str
    needs_events: NeedsEvents
    read_batch: ReadBatch

    def step(self, database: Database, organization_id: uuid.UUID, settled_before: datetime, now: datetime) -> Step:
        """One batch of the organization, or, if it needs none, the jump past its settled events."""
        with database.unit_of_work(write=False) as session:
            after = position(session, self.service, organization_id)
            if self.needs_events(session, organization_id, now):
                newest = None
            else:
                newest = settled_max(session, organization_id, after, settled_before) or after
        if newest is None:
            return self.read_batch(database, organization_id, after, settled_before, now)
        if newest > after:
            with database.unit_of_work() as session:
                move(session, self.service, organization_id, newest)
        return NOTHING

    def walk(self, database: Database, now: datetime, settle: timedelta = SETTLE,
             organization_id: uuid.UUID | None = None, budget_seconds: float = RUN_SECONDS) -> int:
        """Every organization (or one), batch after batch until nothing settled is left or the
        budget is spent (each organization gets at least one step). Returns what was produced."""
        deadline = time.monotonic() + budget_seconds
        produced = 0
        for organization in organizations(database, organization_id):
            while True:
                step = self.step(database, organization, now - settle, now)
                produced += step.done
                if step.complete or time.monotonic() > deadline:
                    break
        return produced


def organizations(database: Database, organization_id: uuid.UUID | None = None) -> Sequence[uuid.UUID]:
    with database.unit_of_work(write=False) as session:
        stmt = select(Organization.id).order_by(Organization.id)
        if organization_id is not None:
            stmt = stmt.where(Organization.id == organization_id)
        return list(session.scalars(stmt))


__all__ = ["NOTHING", "RUN_SECONDS", "SETTLE", "Settled", "Step", "Walker", "lock", "move", "next_events",
           "organizations", "position", "settled_max"]
