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
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.errors import ValidationFailed
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
    """Write each metric expression's value into ``properties[field_name]`` (Lago does it at ingestion)."""
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
        event.properties = {**event.properties, profile.field_name: value}


def _existing(session: Session, organization_id: uuid.UUID, events: list[EventIn]) -> dict[tuple[str, str], Any]:
    if session.get_bind().dialect.name == "postgresql":
        return _existing_postgresql(session, organization_id, events)
    ids = {event.transaction_id for event in events}
    rows = session.execute(
        select(EventRow).where(EventRow.organization_id == organization_id, EventRow.transaction_id.in_(ids))
    ).scalars()
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


# PostgreSQL: the rows as one array per column, unnested by the server. A multi-row VALUES list
# is a long query text that psycopg parses on every call (its cost grows with the rows).
_UNNEST_INSERT = text(
    "INSERT INTO events (organization_id, lago_id, transaction_id, external_subscription_id, code, \"timestamp\","
    " properties, precise_total_amount_cents, created_at)"
    " SELECT * FROM unnest(CAST(:organization_id AS uuid[]), CAST(:lago_id AS uuid[]),"
    " CAST(:transaction_id AS varchar[]), CAST(:external_subscription_id AS varchar[]), CAST(:code AS varchar[]),"
    " CAST(:timestamp AS timestamptz[]), CAST(:properties AS text[]), CAST(:precise_total_amount_cents AS varchar[]),"
    " CAST(:created_at AS timestamptz[]))"
    " ON CONFLICT (organization_id, transaction_id, external_subscription_id) DO NOTHING"
    " RETURNING id, transaction_id, external_subscription_id"
)


def _insert_postgresql(session: Session, rows: list[dict[str, Any]]) -> Any:
    table = EventRow.__table__
    columns: dict[str, list[Any]] = {name: [] for name in (
        "organization_id", "lago_id", "transaction_id", "external_subscription_id", "code", "timestamp",
        "properties", "precise_total_amount_cents", "created_at")}
    dialect = session.get_bind().dialect
    # The same bind processing as the ORM column types (exact JSON text, decimal text, UTC).
    processors = {name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns}
    for row in rows:
        for name, values in columns.items():
            process = processors[name]
            values.append(process(row[name]) if process else row[name])
    return session.execute(_UNNEST_INSERT, columns)


_INSERTS: dict[str, Any] = {}


def _insert_statement(dialect: str) -> Any:
    """``INSERT .. ON CONFLICT DO NOTHING RETURNING`` for ``dialect``, built once."""
    stmt = _INSERTS.get(dialect)
    if stmt is None:
        table = EventRow.__table__
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = _INSERTS[dialect] = (
            insert(table)
            .on_conflict_do_nothing(index_elements=["organization_id", "transaction_id", "external_subscription_id"])
            .returning(table.c.id, table.c.transaction_id, table.c.external_subscription_id)
        )
    return stmt


def _insert(session: Session, organization_id: uuid.UUID, events: list[EventIn]) -> dict[tuple[str, str], Any]:
    """Insert, skipping keys another transaction stored meanwhile; returns the rows inserted."""
    now = clock.now()
    rows = [
        {"organization_id": organization_id, "lago_id": uuid.uuid4(), "transaction_id": e.transaction_id,
         "external_subscription_id": e.external_subscription_id, "code": e.code, "timestamp": e.timestamp,
         "properties": e.properties, "precise_total_amount_cents": e.precise_total_amount_cents, "created_at": now}
        for e in events
    ]
    dialect = session.get_bind().dialect.name
    result = (_insert_postgresql(session, rows) if dialect == "postgresql"
              else session.execute(_insert_statement(dialect), rows))
    ids = {(r.transaction_id, r.external_subscription_id): r.id for r in result}
    inserted = {}
    for row in rows:
        key = (row["transaction_id"], row["external_subscription_id"])
        if key in ids:
            inserted[key] = StoredEvent(row["lago_id"], row["transaction_id"], row["external_subscription_id"],
                                        row["code"], row["timestamp"], row["properties"],
                                        row["precise_total_amount_cents"], now, ids[key])
    return inserted


def ingest(session: Session, organization_id: uuid.UUID, events: list[EventIn], *, batch: bool) -> list[StoredEvent]:
    """Store ``events`` once each; return what is stored for each, in request order.

    Raises :class:`ValidationFailed` (keyed by index for a batch) when an event reuses a stored or
    earlier transaction id with different content, or its metric's expression cannot be computed.
    """
    errors: dict[int, Errors] = {}
    current = rebuild.refresh(session, organization_id, {event.code for event in events})
    rebuild.forget(session, organization_id, {event.code for event in events} - current.keys())
    _apply_expressions(events, current, errors)

    first: dict[tuple[str, str], int] = {}
    for index, event in enumerate(events):
        if index in errors:
            continue
        earlier = first.setdefault(event.key, index)
        if earlier != index and not event.same_content(events[earlier]):
            errors[index] = {"transaction_id": ["value_already_exist"]}
    if not errors and session.get_bind().dialect.name == "postgresql":
        inserted, existing = _insert_first(session, organization_id, events, first, batch)
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
                  first: dict[tuple[str, str], int], batch: bool) -> tuple[dict[tuple[str, str], Any],
                                                                          dict[tuple[str, str], Any]]:
    """PostgreSQL: insert every key, then read back only the keys the insert skipped (retries, or
    keys a concurrent request stored). Same answers as looking every key up first, without a
    lookup on the usual path of new events, whose plan depends on the table's statistics (a seq
    scan per key on a table filled since its last ANALYZE). A refusal rolls the insert back: like
    the lookup-first path, a raising call leaves nothing behind. Returns (inserted, existing)."""
    candidates = [events[index] for index in first.values()]
    errors: dict[int, Errors] = {}
    with session.begin_nested():  # released on success, rolled back by the raise below
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


def ingest_requests(session: Session, requests: list[IngestRequest]) -> list[list[StoredEvent] | Exception]:
    """The batcher of :meth:`GroupCommit.submit`: each request's stored events, or its exception.

    Consecutive requests of one organization are stored by one :func:`ingest` call in one savepoint.
    If that call refuses anything (a bad event, a conflicting transaction id, within a request or
    across them), the savepoint is rolled back and each of those requests runs alone in its own
    savepoint, exactly as if it had been the only one: the answer of every request is the one it
    would get alone, and nothing of a refused request is kept.
    """
    outcomes: list[list[StoredEvent] | Exception] = []
    for chunk in _chunks(requests):
        merged = _merged(session, chunk) if len(chunk) > 1 else None
        if merged is None:
            merged = [_alone(session, request) for request in chunk]
        outcomes.extend(merged)
    return outcomes


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


def _merged(session: Session, chunk: list[IngestRequest]) -> list[list[StoredEvent] | Exception] | None:
    # Copies: ingest writes expression results into the events' properties, and a fallback must
    # start from the events as received.
    events = [replace(event) for request in chunk for event in request.events]
    savepoint = session.begin_nested()
    try:
        stored = ingest(session, chunk[0].organization_id, events, batch=True)
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        return None
    outcomes: list[list[StoredEvent] | Exception] = []
    offset = 0
    for request in chunk:
        outcomes.append(stored[offset:offset + len(request.events)])
        offset += len(request.events)
    return outcomes


def _alone(session: Session, request: IngestRequest) -> list[StoredEvent] | Exception:
    savepoint = session.begin_nested()
    try:
        stored = ingest(session, request.organization_id, request.events, batch=request.batch)
        savepoint.commit()
    except Exception as exc:  # this request's own failure: undo only its writes
        savepoint.rollback()
        return exc
    return stored
