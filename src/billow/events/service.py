"""Ingesting events exactly once, and reading them back.

:func:`ingest` runs inside a group-commit savepoint (see :mod:`billow.core.group_commit`): it
stores the new events, adds them to the usage aggregates in the same transaction, and
acknowledges exact retries without counting them again. Any error raises before the savepoint is
released, so nothing of a refused request is kept.

Concurrent requests reach the group commit together: :func:`ingest_requests` stores them with one
:func:`ingest` call (one metadata read, one statement per table) when they all succeed, and falls
back to one savepoint per request when any of them is refused, so each request still stands or
falls alone.
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, text
from sqlalchemy.orm import Session

from billow.core.db import CUSTOM_PLANS, Database
from billow.core.errors import ValidationFailed
from billow.core.group_commit import LEFT
from billow.events.prepared import (
    Prepared,
    apply_expressions,
    commit_prepared,
    first_of_keys,
    ingest_prepared,
    prepare,
)
from billow.events.rows import PG_INSERT, SQLITE_INSERT, NewRows, StoredEvent, new_rows
from billow.events.schemas import Errors, EventIn
from billow.models import BillableMetric, Subscription
from billow.models import Event as EventRow
from billow.pricing.aggregation import Event as UsageEvent
from billow.usage import rebuild, store


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(row.lago_id, row.transaction_id, row.external_subscription_id, row.code, row.timestamp,
                       row.properties or {}, row.precise_total_amount_cents, row.created_at)


_EXISTING = select(*EventRow.__table__.c).where(
    EventRow.organization_id == bindparam("organization_id"), EventRow.transaction_id.in_(bindparam("ids", expanding=True)))


def _existing(session: Session, organization_id: uuid.UUID, events: list[EventIn]) -> dict[tuple[str, str], Any]:
    if session.get_bind().dialect.name == "postgresql":
        return _existing_postgresql(session, organization_id, events)
    ids = list({event.transaction_id for event in events})
    rows = session.execute(_EXISTING, {"organization_id": organization_id, "ids": ids})
    return {(row.transaction_id, row.external_subscription_id): row for row in rows}


# One index probe per transaction id, whatever the table's statistics say. The ids travel as one
# array parameter (an IN list of hundreds is a long query text that psycopg parses anew on every
# call). As a plain join or IN list, a table filled since its last ANALYZE gets planned as a scan
# of every event of the organization; OFFSET 0 keeps the lateral subquery a probe per id.
_EXISTING_POSTGRESQL = text(
    "SELECT events.* FROM unnest(CAST(:transaction_ids AS varchar[])) AS keys(transaction_id)"
    " CROSS JOIN LATERAL (SELECT * FROM events WHERE events.organization_id = :organization_id"
    " AND events.transaction_id = keys.transaction_id OFFSET 0) AS events"
)


_CUSTOM_PLANS = text(f"SET LOCAL {CUSTOM_PLANS}")


def _existing_postgresql(session: Session, organization_id: uuid.UUID,
                         events: list[EventIn]) -> dict[tuple[str, str], Any]:
    ids = sorted({event.transaction_id for event in events})
    session.execute(_CUSTOM_PLANS)  # for the rest of this transaction (see billow.core.db.CUSTOM_PLANS)
    statement = select(EventRow).from_statement(
        _EXISTING_POSTGRESQL.bindparams(transaction_ids=ids, organization_id=organization_id))
    rows = session.scalars(statement)
    return {(row.transaction_id, row.external_subscription_id): row for row in rows}


def _insert(session: Session, organization_id: uuid.UUID, events: list[EventIn],
            new: NewRows | None = None) -> dict[tuple[str, str], Any]:
    """Insert, skipping keys another transaction stored meanwhile; returns the rows inserted."""
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    new = new or new_rows(organization_id, events, sqlite)
    if sqlite:
        first = _next_id(session)
        connection.exec_driver_sql(SQLITE_INSERT, [(first + index, *row) for index, row in enumerate(new.rows)])
        ids = {event.key: first + index for index, event in enumerate(events)}
    else:
        result = connection.exec_driver_sql(PG_INSERT, (store.json_rows(new.rows),))
        ids = {(transaction_id, subscription_id): id_ for id_, transaction_id, subscription_id in result.all()}
    return {
        e.key: StoredEvent(lago_id, e.transaction_id, e.external_subscription_id, e.code, e.timestamp, e.properties,
                           e.precise_total_amount_cents, new.now, ids[e.key])
        for e, lago_id in zip(events, new.lago_ids, strict=True) if e.key in ids
    }


def _next_id(session: Session) -> int:
    return session.connection().exec_driver_sql("SELECT COALESCE(MAX(id), 0) + 1 FROM events").scalar_one()


def ingest(session: Session, organization_id: uuid.UUID, events: list[EventIn], *, batch: bool,
           prepared: Prepared | None = None, guarded: bool = False) -> list[StoredEvent]:
    """Store ``events`` once each; return what is stored for each, in request order.

    Raises :class:`ValidationFailed` (keyed by index for a batch) when an event reuses a stored or
    earlier transaction id with different content, or its metric's expression cannot be computed.
    ``prepared`` (see :func:`prepare`) is used when it still holds. ``guarded``: the caller rolls
    back a savepoint of its own if this raises (no savepoint of this call's own is needed then).
    """
    if prepared is not None:
        stored = ingest_prepared(session, organization_id, prepared)
        if stored is not None:
            return stored
    current = rebuild.current(session, organization_id, {event.code for event in events})
    events = list(events)  # expressions replace events in this list, never the caller's
    errors: dict[int, Errors] = {}
    apply_expressions(events, current, errors)
    first = first_of_keys(events, errors)
    if not errors and session.get_bind().dialect.name == "postgresql":
        inserted, existing = _insert_first(session, organization_id, events, first, batch, guarded)
    else:
        existing = _existing(session, organization_id, events)
        for key, index in first.items():
            row = existing.get(key)
            if row is not None and index not in errors and not events[index].same_content(row):
                errors[index] = {"transaction_id": ["value_already_exist"]}
        _raise(errors, batch)

        fresh = [events[index] for key, index in first.items() if key not in existing]
        inserted = _insert(session, organization_id, fresh) if fresh else {}
        raced = [events[first[e.key]] for e in fresh if e.key not in inserted]
        if raced:  # stored by a concurrent request between our check and our insert
            existing.update(_existing(session, organization_id, raced))
            for event in raced:
                if not event.same_content(existing[event.key]):
                    errors[first[event.key]] = {"transaction_id": ["value_already_exist"]}
            _raise(errors, batch)
    store.add(session, organization_id, current, [
        store.Stored(row.external_subscription_id, row.code,
                     UsageEvent(row.transaction_id, row.timestamp, row.properties, row.seq))
        for row in inserted.values()
    ])
    return [inserted[e.key] if e.key in inserted else _stored(existing[e.key]) for e in events]


def _insert_first(session: Session, organization_id: uuid.UUID, events: list[EventIn],
                  first: dict[tuple[str, str], int], batch: bool,
                  guarded: bool) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], Any]]:
    """PostgreSQL: insert every key, then read back only the keys the insert skipped (retries, or
    keys a concurrent request stored). Same answers as looking every key up first, without a
    lookup on the usual path of new events, whose plan depends on the table's statistics (a seq
    scan per key on a table filled since its last ANALYZE). A refusal rolls the insert back: like
    the lookup-first path, a raising call leaves nothing behind (``guarded``: the caller's own
    savepoint rolls it back, so none is set here). Returns (inserted, existing)."""
    candidates = [events[index] for index in first.values()]
    errors: dict[int, Errors] = {}
    with nullcontext() if guarded else session.begin_nested():  # rolled back by the raise below
        inserted = _insert(session, organization_id, candidates)
        skipped = [event for event in candidates if event.key not in inserted]
        existing = _existing(session, organization_id, skipped) if skipped else {}
        for event in skipped:
            if not event.same_content(existing[event.key]):
                errors[first[event.key]] = {"transaction_id": ["value_already_exist"]}
        _raise(errors, batch)
    return inserted, existing


def _raise(errors: dict[int, Errors], batch: bool) -> None:
    if not errors:
        return
    if batch:
        raise ValidationFailed({str(index): codes for index, codes in sorted(errors.items())})  # type: ignore[dict-item]
    raise ValidationFailed(next(iter(errors.values())))


def unmatched() -> ColumnElement[bool]:
    """Events nothing bills yet: no live metric has their code, or no subscription with their
    external id covered their timestamp (``GET /events?unmatched=true``)."""
    metric = select(BillableMetric.id).where(
        BillableMetric.organization_id == EventRow.organization_id, BillableMetric.code == EventRow.code,
        BillableMetric.deleted_at.is_(None))
    subscription = select(Subscription.id).where(
        Subscription.organization_id == EventRow.organization_id,
        Subscription.external_id == EventRow.external_subscription_id,
        Subscription.started_at.is_not(None), Subscription.started_at <= EventRow.timestamp,
        or_(Subscription.terminated_at.is_(None), Subscription.terminated_at >= EventRow.timestamp))
    return or_(~metric.exists(), ~subscription.exists())


# ---- several requests in one group commit --------------------------------------------------------

MERGE_LIMIT = 2000  # events per merged ingest call (keeps the IN lists well under driver limits)


@dataclass(frozen=True)
class IngestRequest:
    organization_id: uuid.UUID
    events: list[EventIn]
    batch: bool


class _IngestRequests:
    """The batcher of :meth:`GroupCommit.submit`: each request's stored events, or its exception.

    Consecutive requests of one organization are stored by one :func:`ingest` call in one savepoint.
    If that call refuses anything (a bad event, a conflicting transaction id, within a request or
    across them), the savepoint is rolled back and each of those requests runs alone in its own
    savepoint, exactly as if it had been the only one: the answer of every request is the one it
    would get alone, and nothing of a refused request is kept. :meth:`prepare` readies each group
    of requests outside the writer's turn (see :func:`prepare`).
    """

    def prepare(self, database: Database, requests: list[IngestRequest]) -> list[Prepared | None]:
        return [prepare(database, chunk[0].organization_id, [e for request in chunk for e in request.events])
                for chunk in _chunks(requests)]

    def commit_prepared(self, database: Database, requests: list[IngestRequest],
                        prepared: list[Prepared | None]) -> list[Any] | None:
        """PostgreSQL: each prepared group of requests stored by a statement of its own (see
        :func:`billow.events.prepared.commit_prepared`), or left to the shared transaction."""
        if database.sqlite:
            return None
        outcomes: list[Any] = []
        for chunk, ready in zip(_chunks(requests), prepared, strict=True):
            stored = commit_prepared(database, chunk[0].organization_id, ready) if ready is not None else None
            outcomes.extend(_split(chunk, stored) if stored is not None else [LEFT] * len(chunk))
        return outcomes

    def __call__(self, session: Session, requests: list[IngestRequest],
                 prepared: list[Prepared | None] | None = None) -> list[list[StoredEvent] | Exception]:
        outcomes: list[list[StoredEvent] | Exception] = []
        for index, chunk in enumerate(_chunks(requests)):
            ready = prepared[index] if prepared is not None else None
            stored = ingest_prepared(session, chunk[0].organization_id, ready) if ready is not None else None
            if stored is not None:  # no savepoint needed (see ingest_prepared)
                outcomes.extend(_split(chunk, stored))
                continue
            merged = _merged(session, chunk) if len(chunk) > 1 else None
            if merged is None:
                merged = [_alone(session, request) for request in chunk]
            outcomes.extend(merged)
        return outcomes


ingest_requests = _IngestRequests()


def _chunks(requests: list[IngestRequest]) -> list[list[IngestRequest]]:
    chunks: list[list[IngestRequest]] = []
    size = 0
    for request in requests:
        if (chunks and chunks[-1][0].organization_id == request.organization_id
                and size + len(request.events) <= MERGE_LIMIT):
            chunks[-1].append(request)
            size += len(request.events)
        else:
            chunks.append([request])
            size = len(request.events)
    return chunks


def _split(chunk: list[IngestRequest], stored: list[StoredEvent]) -> list[list[StoredEvent] | Exception]:
    """The answers of a chunk's merged events, request by request."""
    outcomes: list[list[StoredEvent] | Exception] = []
    offset = 0
    for request in chunk:
        outcomes.append(stored[offset:offset + len(request.events)])
        offset += len(request.events)
    return outcomes


def _merged(session: Session, chunk: list[IngestRequest]) -> list[list[StoredEvent] | Exception] | None:
    events = [event for request in chunk for event in request.events]
    savepoint = session.begin_nested()
    try:
        stored = ingest(session, chunk[0].organization_id, events, batch=True, guarded=True)
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        return None
    return _split(chunk, stored)


def _alone(session: Session, request: IngestRequest) -> list[StoredEvent] | Exception:
    savepoint = session.begin_nested()
    try:
        stored = ingest(session, request.organization_id, request.events, batch=request.batch, guarded=True)
        savepoint.commit()
    except Exception as exc:  # this request's own failure: undo only its writes
        savepoint.rollback()
        return exc
    return stored
