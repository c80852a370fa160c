"""The incremental aggregates: added to in the ingest transaction, rebuilt from events (read by
:mod:`billow.usage.repository`).

This is the one module with dialect-specific SQL: an upsert that adds a partial into its row with
exact decimal arithmetic (``NUMERIC`` casts on PostgreSQL, ``billow_dec_*`` functions that the
engine registers on SQLite, where decimals are kept as text).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from billow.core.types import sqlite_datetime, sqlite_uuid
from billow.models import UsageAggregate, UsageValueState
from billow.pricing.aggregation import Event
from billow.pricing.partials import (
    HOUR,
    Grain,
    Partial,
    ValueState,
    hour_of,
    merge,
    partial_of,
    value_states,
)
from billow.usage.profiles import Profile

ALL_TIME = datetime(1, 1, 1, tzinfo=UTC)  # the bucket of the row that sums every event
ALL_GRAIN = 3  # its grain (after :class:`Grain`'s hour, day and month)


class Stored(NamedTuple):
    """An event as aggregation sees it, with the subscription and metric it is filed under (a
    tuple: one is made per event ingested)."""

    external_subscription_id: str
    code: str
    event: Event


def as_event(row: Any) -> Event:
    return Event(row.transaction_id, row.timestamp, row.properties or {}, row.id)


# ---- writing -------------------------------------------------------------------------------------
#
# The upserts are sent to the driver as prepared text with plain values (one executemany per
# table): building bind parameters through SQLAlchemy's type system cost more than the database's
# own work for the many small rows an ingest writes.

_AGGREGATE_COLUMNS = ("organization_id", "external_subscription_id", "code", "grain", "bucket", "dims", "events",
                      "counted", "total", "maximum", "latest_at", "latest_seq", "latest_value", "tail")
_STATE_COLUMNS = ("organization_id", "external_subscription_id", "code", "grain", "bucket", "dims", "value",
                  "last_at", "last_seq", "added")
_AGGREGATE_KEY = "organization_id, external_subscription_id, code, grain, bucket, dims"


# PostgreSQL: the rows travel as one JSON text (an array of arrays) that the server takes apart;
# one statement per table. As ``jsonb`` the text is parsed once (``json`` parses an element again
# for each ``->>``). Arrays per column cost more to send: psycopg
# builds array parameters element by element in Python, in either format. Column types by name
# (varchar otherwise).
PG_TYPES = {"organization_id": "uuid", "lago_id": "uuid", "grain": "smallint", "bucket": "timestamptz",
            "events": "bigint", "counted": "bigint", "latest_at": "timestamptz", "latest_seq": "bigint",
            "last_at": "timestamptz", "last_seq": "bigint", "added": "boolean", "timestamp": "timestamptz",
            "properties": "text", "created_at": "timestamptz"}
def json_rows(rows: list[tuple[Any, ...]]) -> str:
    """The rows (texts, integers, booleans, nulls, UUIDs, aware instants in ISO form) as one JSON
    text: orjson writes it about ten times faster than the standard library's C encoder."""
    return orjson.dumps(rows).decode()


def pg_rows_source(columns: tuple[str, ...]) -> str:
    """``SELECT`` of the rows of one JSON parameter (see :data:`json_rows`), as ``columns``."""
    values = ", ".join(f"(e->>{index})::{PG_TYPES.get(column, 'varchar')}" for index, column in enumerate(columns))
    return f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS e"


_SEQS = ("latest_seq", "last_seq")  # the seq column of each upsert's rows


def _source(dialect: str, columns: tuple[str, ...], linked: str | None) -> str:
    if dialect == "sqlite":
        return f"VALUES ({', '.join(['?'] * len(columns))})"
    if linked is None:
        return pg_rows_source(columns)
    # The seq column holds the transaction id of the event it is taken from: its id, read from
    # ``linked`` (see upsert_sql). In the rows' order, so that locks are taken in a stable order.
    seq = next(index for index, column in enumerate(columns) if column in _SEQS)
    values = ", ".join("e.id" if index == seq else f"(r->>{index})::{PG_TYPES.get(column, 'varchar')}"
                       for index, column in enumerate(columns))
    return (f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS src(r, n)"
            f" LEFT JOIN {linked} AS e ON e.transaction_id = r->>{seq} AND e.external_subscription_id = r->>1"
            f" WHERE (SELECT count(*) FROM {linked}) = %s ORDER BY src.n")


def _upsert_sql(dialect: str, table: str, columns: tuple[str, ...], conflict: str, updates: str,
                where: str = "", linked: str | None = None) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) {_source(dialect, columns, linked)} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}{where}")


def _execute(session: Session, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """Run an upsert of :func:`_upsert_sql` for ``rows`` (one row per key). On SQLite by the
    driver's cursor: the statement is plain text with plain values, and SQLAlchemy's execution
    context cost about as much as SQLite's work for a small group commit."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()
    else:
        connection.exec_driver_sql(sql, (json_rows(rows),))


def _aggregate_updates(dialect: str) -> str:
    old = "usage_aggregates."
    if dialect == "sqlite":  # the functions are Python: not called for a zero or a missing maximum
        def add(column: str) -> str:
            return (f"CASE WHEN excluded.{column} = '0' THEN {old}{column}"
                    f" ELSE billow_dec_add({old}{column}, excluded.{column}) END")
        maximum = (f"CASE WHEN excluded.maximum IS NULL THEN {old}maximum"
                   f" ELSE billow_dec_max({old}maximum, excluded.maximum) END")
    else:
        def add(column: str) -> str:
            return f"CAST(CAST({old}{column} AS NUMERIC) + CAST(excluded.{column} AS NUMERIC) AS VARCHAR)"
        maximum = (f"CAST(GREATEST(CAST({old}maximum AS NUMERIC), CAST(excluded.maximum AS NUMERIC)) AS VARCHAR)")
    newer = (f"excluded.latest_at IS NOT NULL AND ({old}latest_at IS NULL OR excluded.latest_at > {old}latest_at"
             f" OR (excluded.latest_at = {old}latest_at AND excluded.latest_seq > {old}latest_seq))")
    latest = ", ".join(f"{column} = CASE WHEN {newer} THEN excluded.{column} ELSE {old}{column} END"
                       for column in ("latest_at", "latest_seq", "latest_value"))
    return (f"events = {old}events + excluded.events, counted = {old}counted + excluded.counted, "
            f"total = {add('total')}, maximum = {maximum}, {latest}, tail = {add('tail')}")


_SQL: dict[tuple[str, str, str | None], str] = {}


def upsert_sql(dialect: str, name: str, linked: str | None = None) -> str:
    """The upsert of ``name`` (``partials`` or ``states``) for ``dialect``, built once.

    ``linked`` (PostgreSQL): the name of a ``WITH`` query of events just inserted (``id,
    transaction_id, external_subscription_id``). The rows then carry, in place of their seq, the
    transaction id of the event it comes from (:func:`linked`), and get that event's id; they are
    written only if that query holds as many events as a second parameter says.
    """
    key = (dialect, name, linked)
    if key not in _SQL:
        if name == "partials":
            _SQL[key] = _upsert_sql(dialect, "usage_aggregates", _AGGREGATE_COLUMNS, _AGGREGATE_KEY,
                                    _aggregate_updates(dialect), linked=linked)
        else:
            old = "usage_value_states."
            _SQL[key] = _upsert_sql(
                dialect, "usage_value_states", _STATE_COLUMNS, f"{_AGGREGATE_KEY}, value",
                "last_at = excluded.last_at, last_seq = excluded.last_seq, added = excluded.added",
                f" WHERE excluded.last_at > {old}last_at OR (excluded.last_at = {old}last_at"
                f" AND excluded.last_seq > {old}last_seq)", linked=linked)
    return _SQL[key]


class _Values:
    """Python values -> the texts the driver sends for the project's column types (SQLite's
    storage, ISO texts in PostgreSQL's JSON rows). Organizations and buckets repeat from one write
    to the next: their texts are kept (one table per dialect, emptied when it grows large)."""

    _KEPT = 50_000

    def __init__(self, dialect: str):
        sqlite = dialect == "sqlite"
        self.uuid = sqlite_uuid if sqlite else str
        self.instant = sqlite_datetime if sqlite else datetime.isoformat  # an event's own instant: not kept
        self._texts: dict[Any, str] = {}

    def kept(self, value: Any, text_of: Callable[[Any], str]) -> str:
        """``text_of(value)``, remembered."""
        text = self._texts.get(value)
        if text is None:
            if len(self._texts) >= self._KEPT:
                self._texts.clear()
            text = self._texts[value] = text_of(value)
        return text


_VALUES = {dialect: _Values(dialect) for dialect in ("sqlite", "postgresql")}


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _partial_row(values: _Values, org: Any, key: tuple[Any, ...], part: Partial) -> tuple[Any, ...]:
    sub, code, grain, bucket, dims = key
    latest = part.latest_key
    return (org, sub, code, grain, values.kept(bucket, values.instant), dims, part.events, part.counted,
            str(part.total), _decimal(part.maximum), latest and values.instant(latest[0]), latest and latest[1],
            _decimal(part.latest_value), str(part.tail))


def exclude_writers(session: Session) -> None:
    """Hold off every other transaction's aggregate writes until this one ends (a rebuild).

    On PostgreSQL a rebuild's DELETE does not see aggregate rows that a concurrent ingest inserts
    after the DELETE began, while its later SELECT of the raw events does see that ingest's events
    once committed: an event of a subscription (or dimension values) new to the aggregates would
    be counted twice. ``SHARE ROW EXCLUSIVE`` waits for ingests that already wrote aggregates and
    makes later ones wait for the rebuild's commit; readers are not blocked. SQLite needs nothing:
    its writers are serialized by ``BEGIN IMMEDIATE``.
    """
    if session.get_bind().dialect.name == "postgresql":
        names = ", ".join(model.__table__.name for model in (UsageAggregate, UsageValueState))
        session.execute(text(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE"))


_HOUR, _DAY, _MONTH = int(Grain.HOUR), int(Grain.DAY), int(Grain.MONTH)


@lru_cache(maxsize=4096)
def _buckets(timestamp_hour: datetime) -> tuple[tuple[int, datetime], ...]:
    """The (grain, bucket) of every coarser row an hour's partial is added to (plain integers)."""
    return ((_DAY, Grain.DAY.start(timestamp_hour)), (_MONTH, Grain.MONTH.start(timestamp_hour)),
            (ALL_GRAIN, ALL_TIME))


@lru_cache(maxsize=4096)
def _end(grain: int, bucket: datetime) -> datetime:
    return Grain(grain).end(bucket)


@dataclass
class Pending:
    """Aggregate rows made from newly stored events, ready for the upserts (:func:`write`).

    Made outside the write transaction when the events' ids are not known yet: their seqs are then
    positions, and :func:`write` adds the first id to them (``seq_offset``)."""

    dialect: str
    partials: list[tuple[Any, ...]]
    states: list[tuple[Any, ...]]


_PARTIAL_SEQ = _AGGREGATE_COLUMNS.index("latest_seq")
_STATE_SEQ = _STATE_COLUMNS.index("last_seq")


def pending(dialect: str, organization_id: uuid.UUID, profiles: dict[str, Profile],
            stored: Iterable[Stored]) -> Pending | None:
    """The aggregate rows ``stored`` adds to (``None``: none; events of unknown metrics are
    skipped: creating the metric later rebuilds its aggregates from the raw events)."""
    by_hour: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for item in stored:
        profile = profiles.get(item.code)
        if profile is None:
            continue
        event = item.event
        timestamp = event.timestamp
        # hour_of, without its conversion for the UTC instants that ingest gives
        hour = (timestamp.replace(minute=0, second=0, microsecond=0) if timestamp.tzinfo is UTC
                else hour_of(timestamp))
        by_hour[(item.external_subscription_id, item.code, profile.dims(event.properties), hour)].append(event)
    if not by_hour:
        return None
    values = _VALUES[dialect]
    org = values.kept(organization_id, values.uuid)
    # Keys leave the organization out (one per call): hashing its UUID cost more than the rest.
    rows: dict[tuple[Any, ...], Partial] = {}
    coarser: dict[tuple[Any, ...], list[Partial]] = defaultdict(list)
    states: dict[tuple[Any, ...], ValueState] = {}
    for (sub, code, dims, hour), events in by_hour.items():
        profile = profiles[code]
        part = partial_of(profile.field_name, events, hour + HOUR, present=profile.keeps_values,
                          tail=profile.keeps_tail)
        rows[(sub, code, _HOUR, hour, dims)] = part
        for grain, bucket in _buckets(hour):
            coarser[(sub, code, grain, bucket, dims)].append(part)
        if profile.keeps_values and profile.field_name:
            for state in value_states(profile.field_name, events).values():
                for grain, bucket in ((_HOUR, hour), *_buckets(hour)):
                    key = (sub, code, grain, bucket, dims, state.value)
                    known = states.get(key)
                    if known is None or state.last_key > known.last_key:
                        states[key] = state
    for key, parts in coarser.items():
        grain, bucket, tail = key[2], key[3], profiles[key[1]].keeps_tail
        if len(parts) == 1 and not tail:  # what merge would give, but for an end no row keeps
            rows[key] = parts[0]
        elif grain == ALL_GRAIN:  # no end to measure level-seconds to: its tail is not kept
            rows[key] = merge(parts, max(p.end for p in parts), tail=False)
        else:
            rows[key] = merge(parts, _end(grain, bucket), tail=tail)
    # A stable order: concurrent writers on PostgreSQL lock rows in the same order (no deadlock).
    # SQLite's writers take turns: any order does.
    order = (lambda items: items) if dialect == "sqlite" else sorted
    return Pending(
        dialect,
        [_partial_row(values, org, key, part) for key, part in order(rows.items())],
        [(org, sub, code, grain, values.kept(bucket, values.instant), dims, value, values.instant(state.last_key[0]),
          state.last_key[1], state.added)
         for (sub, code, grain, bucket, dims, value), state in order(states.items())],
    )


def _with_seqs(rows: list[tuple[Any, ...]], index: int, seq: Callable[[int], Any]) -> list[tuple[Any, ...]]:
    """``rows`` with ``seq(position)`` in place of each seq (column ``index``) they carry."""
    return [row if row[index] is None else (*row[:index], seq(row[index]), *row[index + 1:]) for row in rows]


def linked(rows: Pending, transaction_ids: list[str]) -> Pending:
    """``rows``, made with positions as seqs, with the transaction id of the event at each position
    in place of its seq (for :func:`upsert_sql` with ``linked``)."""
    return Pending(rows.dialect, _with_seqs(rows.partials, _PARTIAL_SEQ, transaction_ids.__getitem__),
                   _with_seqs(rows.states, _STATE_SEQ, transaction_ids.__getitem__))


def _offset(rows: list[tuple[Any, ...]], index: int, seq_offset: int) -> list[tuple[Any, ...]]:
    return _with_seqs(rows, index, lambda seq: seq + seq_offset) if seq_offset else rows


def write(session: Session, rows: Pending | None, seq_offset: int = 0) -> None:
    """Add ``rows`` into the stored aggregates, their seqs moved by ``seq_offset``."""
    if rows is None:
        return
    _execute(session, upsert_sql(rows.dialect, "partials"), _offset(rows.partials, _PARTIAL_SEQ, seq_offset))
    if rows.states:
        _execute(session, upsert_sql(rows.dialect, "states"), _offset(rows.states, _STATE_SEQ, seq_offset))


def add(session: Session, organization_id: uuid.UUID, profiles: dict[str, Profile], stored: Iterable[Stored]) -> None:
    """Add newly stored events (seqs are their ids) to the aggregates of their metric."""
    write(session, pending(session.get_bind().dialect.name, organization_id, profiles, stored))
