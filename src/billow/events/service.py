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

import os
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, text
from sqlalchemy.orm import Session

from billow.core import clock, jsontext
from billow.core.db import Database
from billow.core.errors import ValidationFailed
from billow.core.types import sqlite_datetime, sqlite_uuid
from billow.events.schemas import Errors, EventIn
from billow.models import BillableMetric, Subscription
from billow.models import Event as EventRow
from billow.pricing.aggregation import Event as UsageEvent
from billow.pricing.expression import Expression, ExpressionError, parse
from billow.usage import rebuild, store
from billow.usage.profiles import Profile


@dataclass
class StoredEvent:
    lago_id: uuid.UUID
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict[str, Any]
    precise_total_amount_cents: Decimal | None
    created_at: datetime
    seq: int = 0


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(row.lago_id, row.transaction_id, row.external_subscription_id, row.code, row.timestamp,
                       row.properties or {}, row.precise_total_amount_cents, row.created_at)


def _apply_expressions(events: list[EventIn], profiles: dict[str, Profile], errors: dict[int, Errors]) -> None:
    """Write each metric expression's value into ``properties[field_name]`` (Lago does it at ingestion),
    replacing the event in ``events`` by a copy (the caller's event stays as received)."""
    parsed: dict[str, Expression] = {}
    for index, event in enumerate(events):
        profile = profiles.get(event.code)
        if profile is None or not profile.expression or not profile.field_name:
            continue
        if profile.code not in parsed:
            parsed[profile.code] = parse(profile.expression)
        try:
            value = parsed[profile.code].evaluate(
                {"code": event.code, "timestamp": event.timestamp, "properties": event.properties}
            )
        except ExpressionError:
            errors[index] = {"properties": ["invalid_expression"]}
            continue
        events[index] = replace(event, properties={**event.properties, profile.field_name: value})


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


def _existing_postgresql(session: Session, organization_id: uuid.UUID,
                         events: list[EventIn]) -> dict[tuple[str, str], Any]:
    ids = sorted({event.transaction_id for event in events})
    statement = select(EventRow).from_statement(
        _EXISTING_POSTGRESQL.bindparams(transaction_ids=ids, organization_id=organization_id))
    rows = session.scalars(statement)
    return {(row.transaction_id, row.external_subscription_id): row for row in rows}


_COLUMNS = ("organization_id", "lago_id", "transaction_id", "external_subscription_id", "code", "timestamp",
            "properties", "precise_total_amount_cents", "created_at")

# PostgreSQL: the rows as one JSON parameter taken apart by the server (see billow.usage.store).
_PG_INSERT = (
    f"INSERT INTO events ({', '.join(_COLUMNS)}) {store.pg_rows_source(_COLUMNS)}"
    " ON CONFLICT (organization_id, transaction_id, external_subscription_id) DO NOTHING"
    " RETURNING id, transaction_id, external_subscription_id"
)

# SQLite: writers hold the database lock from their first statement (``BEGIN IMMEDIATE``) and the
# keys were looked up under it, so the rows get the next ids explicitly and go in with one plain
# executemany. A key stored meanwhile is impossible; if it happened, the unique constraint would
# fail the whole request rather than skip a row.
_SQLITE_INSERT = f"INSERT INTO events (id, {', '.join(_COLUMNS)}) VALUES ({', '.join(['?'] * (len(_COLUMNS) + 1))})"


def _driver_rows(organization_id: uuid.UUID, events: list[EventIn], lago_ids: list[uuid.UUID], now: datetime,
                 sqlite: bool) -> list[tuple[Any, ...]]:
    """Each event as the driver takes it: the texts SQLite stores for the column types, or the
    ISO texts of PostgreSQL's JSON rows."""
    as_uuid, instant = (sqlite_uuid, sqlite_datetime) if sqlite else (str, datetime.isoformat)
    org, created = as_uuid(organization_id), instant(now)
    return [
        (org, as_uuid(lago_id), e.transaction_id, e.external_subscription_id, e.code, instant(e.timestamp),
         jsontext.dumps_parsed(e.properties),
         None if e.precise_total_amount_cents is None else str(e.precise_total_amount_cents), created)
        for e, lago_id in zip(events, lago_ids, strict=True)
    ]


@dataclass
class _NewRows:
    """Events as the driver inserts them (without ids on SQLite), with what their answers need."""

    events: list[EventIn]
    lago_ids: list[uuid.UUID]
    rows: list[tuple[Any, ...]]
    now: datetime


def _lago_ids(count: int) -> list[uuid.UUID]:
    """``count`` random (version 4) UUIDs from one read of the system's random source (one call
    per event cost a system call each, and a wait for the interpreter lock after it)."""
    randomness = os.urandom(16 * count)
    return [uuid.UUID(bytes=randomness[16 * index:16 * index + 16], version=4) for index in range(count)]


def _new_rows(organization_id: uuid.UUID, events: list[EventIn], sqlite: bool) -> _NewRows:
    now = clock.now()
    lago_ids = _lago_ids(len(events))
    return _NewRows(events, lago_ids, _driver_rows(organization_id, events, lago_ids, now, sqlite), now)


def _insert(session: Session, organization_id: uuid.UUID, events: list[EventIn],
            new: _NewRows | None = None) -> dict[tuple[str, str], Any]:
    """Insert, skipping keys another transaction stored meanwhile; returns the rows inserted."""
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    new = new or _new_rows(organization_id, events, sqlite)
    if sqlite:
        first = _next_id(session)
        connection.exec_driver_sql(_SQLITE_INSERT, [(first + index, *row) for index, row in enumerate(new.rows)])
        ids = {event.key: first + index for index, event in enumerate(events)}
    else:
        result = connection.exec_driver_sql(_PG_INSERT, (store.json_rows(new.rows),))
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
    _apply_expressions(events, current, errors)
    first = _first_of_keys(events, errors)
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


def _first_of_keys(events: list[EventIn], errors: dict[int, Errors]) -> dict[tuple[str, str], int]:
    """The index of each key's first event; a later event of a key with other content is an error."""
    first: dict[tuple[str, str], int] = {}
    for index, event in enumerate(events):
        if index in errors:
            continue
        earlier = first.setdefault(event.key, index)
        if earlier != index and not event.same_content(events[earlier]):
            errors[index] = {"transaction_id": ["value_already_exist"]}
    return first


# ---- prepared outside the writer's turn (SQLite) -------------------------------------------------
#
# Several server processes on one SQLite file take turns writing. What needs no database (applying
# expressions, the rows of the events and of their aggregates) is prepared before the turn, with
# the metric profiles last known for the organization's catalog revision; in the turn, the events
# go in if the revision is still the one prepared for and none of their keys is stored already
# (else the usual path runs). Ids are known only in the turn: the prepared aggregate rows carry
# positions as seqs, shifted by the first id when written.


@dataclass
class Prepared:
    profiles: dict[str, Profile]
    first: dict[tuple[str, str], int]
    events: list[EventIn]  # after expressions
    new: _NewRows  # the first event of each key, in key order
    aggregates: store.Pending | None
    fresh: list[StoredEvent]  # the answers of ``new``'s events (their seqs set in the turn)
    answers: list[StoredEvent]  # the answer of each event of ``events``

    def holds(self, current: dict[str, Profile]) -> bool:
        return current.keys() == self.profiles.keys() and all(current[c] is p for c, p in self.profiles.items())


def prepare(database: Database, organization_id: uuid.UUID, events: list[EventIn]) -> Prepared | None:
    """What :func:`ingest` can take ready-made, or ``None`` (not SQLite, profiles not known yet, or
    an event to refuse: the usual path finds the same answer)."""
    if not database.sqlite:
        return None
    profiles = rebuild.known(database.engine, organization_id, {event.code for event in events})
    if profiles is None:
        return None
    events = list(events)
    errors: dict[int, Errors] = {}
    _apply_expressions(events, profiles, errors)
    first = _first_of_keys(events, errors)
    if errors:
        return None
    fresh = [events[index] for index in first.values()]
    aggregates = store.pending("sqlite", organization_id, profiles, [
        store.Stored(e.external_subscription_id, e.code, UsageEvent(e.transaction_id, e.timestamp, e.properties, seq))
        for seq, e in enumerate(fresh)])
    new = _new_rows(organization_id, fresh, sqlite=True)
    answers = [StoredEvent(lago_id, e.transaction_id, e.external_subscription_id, e.code, e.timestamp, e.properties,
                           e.precise_total_amount_cents, new.now) for e, lago_id in zip(fresh, new.lago_ids, strict=True)]
    position = {key: index for index, key in enumerate(first)}
    return Prepared(profiles, first, events, new, aggregates, answers, [answers[position[e.key]] for e in events])


def ingest_prepared(session: Session, organization_id: uuid.UUID, prepared: Prepared) -> list[StoredEvent] | None:
    """Store what was prepared, in the turn; ``None``, having written nothing, when it no longer
    holds (the catalog changed, or a key is stored already: a retry).

    It needs no savepoint: it writes only once nothing can refuse its events (keys checked under
    SQLite's write lock, rows and expressions checked when prepared). A failure after that is the
    database's own; it raises out of the group commit's batcher, which then rolls the whole
    transaction back and runs each request alone. Plain driver statements: SQLAlchemy's execution
    context cost more than SQLite's work for a group of single events.
    """
    if not prepared.holds(rebuild.current(session, organization_id, set(prepared.profiles))):
        return None
    fresh = prepared.new.events
    ids = list({event.transaction_id for event in fresh})
    sql = ("SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM events), EXISTS (SELECT 1 FROM events"
           f" WHERE organization_id = ? AND transaction_id IN ({', '.join(['?'] * len(ids))}))")
    cursor = session.connection().connection.cursor()
    try:
        first, stored = cursor.execute(sql, (sqlite_uuid(organization_id), *ids)).fetchone()
        if stored:
            return None
        cursor.executemany(_SQLITE_INSERT, [(first + index, *row) for index, row in enumerate(prepared.new.rows)])
    finally:
        cursor.close()
    store.write(session, prepared.aggregates, seq_offset=first)
    for index, answer in enumerate(prepared.fresh):
        answer.seq = first + index
    return prepared.answers


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
