"""Ingest prepared before the write transaction, and stored in few statements when it still holds.

What needs no database (applying expressions, the rows of the events and of their aggregates) is
prepared outside the transaction (on SQLite, before the writer's turn, while another process holds
it), with the metric profiles last known for the organization's catalog revision. In the
transaction the events go in if the revision is still the one prepared for and none of their keys
is stored already; otherwise the usual path (:func:`billow.events.service.ingest`) runs.

Ids are known only once the events are in. On SQLite the prepared aggregate rows carry positions as
seqs, shifted by the first id when written; on PostgreSQL one statement inserts the events and the
aggregate rows, which take the ids of their events from the insert's answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from billow.core.db import Database
from billow.core.types import sqlite_uuid
from billow.events.rows import SQLITE_INSERT, NewRows, StoredEvent, new_rows, pg_insert
from billow.events.schemas import Errors, EventIn
from billow.pricing.aggregation import Event as UsageEvent
from billow.pricing.expression import Expression, ExpressionError, parse
from billow.usage import rebuild, store
from billow.usage.profiles import Profile


def apply_expressions(events: list[EventIn], profiles: dict[str, Profile], errors: dict[int, Errors]) -> None:
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



def first_of_keys(events: list[EventIn], errors: dict[int, Errors]) -> dict[tuple[str, str], int]:
    """The index of each key's first event; a later event of a key with other content is an error."""
    first: dict[tuple[str, str], int] = {}
    for index, event in enumerate(events):
        if index in errors:
            continue
        earlier = first.setdefault(event.key, index)
        if earlier != index and not event.same_content(events[earlier]):
            errors[index] = {"transaction_id": ["value_already_exist"]}
    return first


@dataclass
class Prepared:
    revision: int  # the organization's catalog revision ``profiles`` hold at
    profiles: dict[str, Profile]
    first: dict[tuple[str, str], int]
    events: list[EventIn]  # after expressions
    new: NewRows  # the first event of each key, in key order
    aggregates: store.Pending | None
    fresh: list[StoredEvent]  # the answers of ``new``'s events (their seqs set in the turn)
    answers: list[StoredEvent]  # the answer of each event of ``events``

    def holds(self, current: dict[str, Profile]) -> bool:
        return current.keys() == self.profiles.keys() and all(current[c] is p for c, p in self.profiles.items())


def prepare(database: Database, organization_id: uuid.UUID, events: list[EventIn]) -> Prepared | None:
    """What :func:`ingest_prepared` can take ready-made, or ``None`` (profiles not known yet, or an
    event to refuse: the usual path finds the same answer)."""
    known = rebuild.known(database.engine, organization_id, {event.code for event in events})
    if known is None:
        return None
    revision, profiles = known
    events = list(events)
    errors: dict[int, Errors] = {}
    apply_expressions(events, profiles, errors)
    first = first_of_keys(events, errors)
    if errors:
        return None
    fresh = [events[index] for index in first.values()]
    aggregates = store.pending("sqlite" if database.sqlite else "postgresql", organization_id, profiles, [
        store.Stored(e.external_subscription_id, e.code, UsageEvent(e.transaction_id, e.timestamp, e.properties, seq))
        for seq, e in enumerate(fresh)])
    new = new_rows(organization_id, fresh, sqlite=database.sqlite)
    answers = [StoredEvent(lago_id, e.transaction_id, e.external_subscription_id, e.code, e.timestamp, e.properties,
                           e.precise_total_amount_cents, new.now)
               for e, lago_id in zip(fresh, new.lago_ids, strict=True)]
    position = {key: index for index, key in enumerate(first)}
    return Prepared(revision, profiles, first, events, new, aggregates, answers,
                    [answers[position[e.key]] for e in events])


def ingest_prepared(session: Session, organization_id: uuid.UUID, prepared: Prepared) -> list[StoredEvent] | None:
    """SQLite, in the writer's turn: store what was prepared; ``None``, having written nothing, when
    it no longer holds (the catalog changed, or a key is stored already: a retry, or a concurrent
    request). The keys are looked up under SQLite's write lock, and the rows go in only if none is
    stored. (PostgreSQL: :func:`commit_prepared`; here ``None``.)

    It needs no savepoint: it writes only once nothing can refuse its events (rows and expressions
    were checked when prepared). A failure after that is the database's own; it raises out of the
    group commit's batcher, which then rolls the whole transaction back and runs each request alone.
    Plain driver statements: SQLAlchemy's execution context cost more than SQLite's work for a group
    of single events.
    """
    if session.get_bind().dialect.name != "sqlite":
        return None
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
        cursor.executemany(SQLITE_INSERT, [(first + index, *row) for index, row in enumerate(prepared.new.rows)])
    finally:
        cursor.close()
    store.write(session, prepared.aggregates, seq_offset=first)
    for index, answer in enumerate(prepared.fresh):
        answer.seq = first + index
    return prepared.answers


def commit_prepared(database: Database, organization_id: uuid.UUID, prepared: Prepared) -> list[StoredEvent] | None:
    """PostgreSQL: store what was prepared with one statement that is a transaction of its own
    (:func:`postgresql_statement`), committed when this returns; ``None``, having kept nothing, when
    it no longer holds. The events go in, with their aggregates, if the catalog revision is still the
    one prepared for; a key stored already (a retry, or a concurrent request) fails the whole
    statement. The usual path then tells retries from conflicts."""
    sql, params = postgresql_statement(organization_id, prepared.revision, prepared.new, prepared.aggregates)
    try:
        with database.single_statements() as connection:
            inserted = connection.exec_driver_sql(sql, params).all()
    except DBAPIError:  # a key stored already, most likely; any other failure the usual path meets too
        return None
    if len(inserted) < len(prepared.new.events):  # the catalog changed: nothing was written
        return None
    ids = {(transaction_id, subscription_id): id_ for id_, transaction_id, subscription_id in inserted}
    for answer in prepared.fresh:
        answer.seq = ids[(answer.transaction_id, answer.external_subscription_id)]
    return prepared.answers


def postgresql_statement(organization_id: uuid.UUID, revision: int, new: NewRows,
                         aggregates: store.Pending | None) -> tuple[str, tuple[Any, ...]]:
    """The statement that stores ``new`` events and their ``aggregates`` (rows made with positions
    as seqs) if the organization's catalog is at ``revision``, and its parameters."""
    fresh = new.events
    linked = store.linked(aggregates or store.Pending("postgresql", [], []), [event.transaction_id for event in fresh])
    count = len(fresh)
    params: list[Any] = [store.json_rows(new.rows), str(organization_id), revision, store.json_rows(linked.partials),
                         count]
    if linked.states:
        params += [store.json_rows(linked.states), count]
    return _postgresql_sql(bool(linked.states)), tuple(params)


@lru_cache(maxsize=2)
def _postgresql_sql(states: bool) -> str:
    """The events, then their aggregates (and value states), in one round trip: the aggregate rows
    take the ids of the events they come from out of the insert's answer, and are written only if
    every event went in."""
    # No lookup of the keys first: the only index a planner is sure to take for it is the unique
    # one, through the insert's own check. A lookup of (organization, transaction id) planned while
    # the table was nearly empty, or its statistics stale, scanned every event of the organization
    # for each key. So a retry fails the statement, and the server logs that failure.
    revision = " WHERE EXISTS (SELECT FROM organizations WHERE id = %s AND catalog_revision = %s)"
    queries = [f"inserted AS ({pg_insert(revision, skip_stored=False)})",
               f"partials AS ({store.upsert_sql('postgresql', 'partials', 'inserted')})"]
    if states:
        queries.append(f"states AS ({store.upsert_sql('postgresql', 'states', 'inserted')})")
    return f"WITH {', '.join(queries)} SELECT id, transaction_id, external_subscription_id FROM inserted"
