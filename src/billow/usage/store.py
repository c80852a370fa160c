"""The incremental aggregates: added to in the ingest transaction, read by usage, rebuilt from events.

This is the one module with dialect-specific SQL: an upsert that adds a partial into its row with
exact decimal arithmetic (``NUMERIC`` casts on PostgreSQL, ``billow_dec_*`` functions that the
engine registers on SQLite, where decimals are kept as text).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String, and_, case, cast, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billow.models import Event as EventRow
from billow.models import UsageAggregate, UsageValueState
from billow.pricing.aggregation import Event
from billow.pricing.partials import (
    HOUR,
    Partial,
    ValueState,
    hour_of,
    merge,
    partial_of,
    value_states,
)
from billow.usage.profiles import Profile

ALL_TIME = datetime(1, 1, 1, tzinfo=UTC)  # the bucket of the row that sums every hour
_KEY = ("organization_id", "external_subscription_id", "code", "dims", "bucket")


@dataclass(frozen=True)
class Stored:
    """An event as aggregation sees it, with the subscription and metric it is filed under."""

    external_subscription_id: str
    code: str
    event: Event


def as_event(row: Any) -> Event:
    return Event(row.transaction_id, row.timestamp, row.properties or {}, row.id)


# ---- writing -------------------------------------------------------------------------------------


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _dec_add(session: Session, left: Any, right: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(cast(left, Numeric) + cast(right, Numeric), String)
    return func.billow_dec_add(left, right)


def _dec_max(session: Session, left: Any, right: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.greatest(cast(left, Numeric), cast(right, Numeric)), String)
    return func.billow_dec_max(left, right)


def _partial_row(key: tuple[Any, ...], part: Partial) -> dict[str, Any]:
    org, sub, code, dims, bucket = key
    return {
        "organization_id": org, "external_subscription_id": sub, "code": code, "dims": dims, "bucket": bucket,
        "events": part.events, "counted": part.counted, "total": part.total, "maximum": part.maximum,
        "latest_at": part.latest_key[0] if part.latest_key else None,
        "latest_seq": part.latest_key[1] if part.latest_key else None,
        "latest_value": part.latest_value, "tail": part.tail,
    }


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


# The upsert statements depend only on the dialect: built once each (building one, with its
# ``excluded`` alias, costs about as much as executing it for a small group of events).
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(session: Session, name: str, build: Any) -> Any:
    key = (session.get_bind().dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build(session)
    return stmt


def _upsert_partials(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(_statement(session, "partials", _partials_statement), rows)


def _partials_statement(session: Session) -> Any:
    table = UsageAggregate.__table__
    stmt = _insert(session)(table)
    new = stmt.excluded
    newer = and_(new.latest_at.is_not(None), or_(
        table.c.latest_at.is_(None), new.latest_at > table.c.latest_at,
        and_(new.latest_at == table.c.latest_at, new.latest_seq > table.c.latest_seq),
    ))
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={
            "events": table.c.events + new.events,
            "counted": table.c.counted + new.counted,
            "total": _dec_add(session, table.c.total, new.total),
            "maximum": _dec_max(session, table.c.maximum, new.maximum),
            "latest_at": case((newer, new.latest_at), else_=table.c.latest_at),
            "latest_seq": case((newer, new.latest_seq), else_=table.c.latest_seq),
            "latest_value": case((newer, new.latest_value), else_=table.c.latest_value),
            "tail": _dec_add(session, table.c.tail, new.tail),
        },
    )
    return stmt


def _upsert_states(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(_statement(session, "states", _states_statement), rows)


def _states_statement(session: Session) -> Any:
    table = UsageValueState.__table__
    stmt = _insert(session)(table)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[*_KEY[:4], "value", "bucket"],
        set_={"last_at": new.last_at, "last_seq": new.last_seq, "added": new.added},
        where=or_(new.last_at > table.c.last_at, and_(new.last_at == table.c.last_at, new.last_seq > table.c.last_seq)),
    )
    return stmt


def add(session: Session, organization_id: uuid.UUID, profiles: dict[str, Profile], stored: Iterable[Stored]) -> None:
    """Add newly stored events to the aggregates of their metric (events of unknown metrics are
    skipped: creating the metric later rebuilds its aggregates from the raw events)."""
    by_key: dict[tuple[Any, ...], list[Event]] = defaultdict(list)
    for item in stored:
        profile = profiles.get(item.code)
        if profile is None:
            continue
        dims = profile.dims(dict(item.event.properties))
        by_key[(organization_id, item.external_subscription_id, item.code, dims, hour_of(item.event.timestamp))].append(
            item.event
        )
    if not by_key:
        return
    partial_rows: list[dict[str, Any]] = []
    totals: dict[tuple[Any, ...], list[Partial]] = defaultdict(list)
    state_rows: list[dict[str, Any]] = []
    for key, events in sorted(by_key.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][3], kv[0][4])):
        profile = profiles[key[2]]
        part = partial_of(profile.field_name, events, key[4] + HOUR, present=profile.keeps_values)
        partial_rows.append(_partial_row(key, part))
        totals[(*key[:4], ALL_TIME)].append(part)
        if profile.keeps_values and profile.field_name:
            for bucket, states in ((key[4], value_states(profile.field_name, events)),):
                for state in states.values():
                    for where in (bucket, ALL_TIME):
                        state_rows.append(_state_row(key, state, where))
    for key, parts in totals.items():
        merged = merge(parts, max(part.end for part in parts))
        partial_rows.append(_partial_row(key, Partial(ALL_TIME, merged.events, merged.counted, merged.total,
                                                      merged.maximum, merged.latest_key, merged.latest_value)))
    _upsert_partials(session, partial_rows)
    if state_rows:
        _upsert_states(session, _last_per_row(state_rows))


def _state_row(key: tuple[Any, ...], state: ValueState, bucket: datetime) -> dict[str, Any]:
    org, sub, code, dims, _ = key
    return {"organization_id": org, "external_subscription_id": sub, "code": code, "dims": dims,
            "value": state.value, "bucket": bucket, "last_at": state.last_key[0], "last_seq": state.last_key[1],
            "added": state.added}


def _last_per_row(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per primary key (an upsert statement may not touch a row twice): the latest state."""
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        pk = tuple(row[k] for k in (*_KEY[:4], "value", "bucket"))
        known = best.get(pk)
        if known is None or (row["last_at"], row["last_seq"]) > (known["last_at"], known["last_seq"]):
            best[pk] = row
    return list(best.values())


# ---- reading -------------------------------------------------------------------------------------


# Plain columns, not ORM entities: a usage read takes hundreds of hour rows per charge, and
# building (and identity-mapping) an object per row cost most of its time.
_PARTIAL_COLUMNS = (UsageAggregate.dims, UsageAggregate.bucket, UsageAggregate.events, UsageAggregate.counted,
                    UsageAggregate.total, UsageAggregate.maximum, UsageAggregate.latest_at, UsageAggregate.latest_seq,
                    UsageAggregate.latest_value, UsageAggregate.tail)


def _partial_of_row(row: Any) -> Partial:
    latest = (row.latest_at, row.latest_seq) if row.latest_at is not None else None
    return Partial(row.bucket + HOUR, row.events, row.counted, row.total, row.maximum, latest, row.latest_value,
                   row.tail)


def _scope(model: Any, organization_id: uuid.UUID, external_subscription_id: str, code: str) -> list[Any]:
    return [model.organization_id == organization_id, model.external_subscription_id == external_subscription_id,
            model.code == code]


def hour_partials(session: Session, organization_id: uuid.UUID, external_subscription_id: str, code: str,
                  first_hour: datetime, end_hour: datetime) -> dict[str, list[Partial]]:
    """Stored partials of the hours in ``[first_hour, end_hour)``, by dimensions."""
    rows = session.execute(
        select(*_PARTIAL_COLUMNS).where(
            *_scope(UsageAggregate, organization_id, external_subscription_id, code),
            UsageAggregate.bucket >= first_hour, UsageAggregate.bucket < end_hour,
        )
    )
    result: dict[str, list[Partial]] = defaultdict(list)
    for row in rows:
        result[row.dims].append(_partial_of_row(row))
    return result


def all_time_totals(session: Session, organization_id: uuid.UUID, external_subscription_id: str,
                    code: str) -> dict[str, Decimal]:
    rows = session.execute(
        select(UsageAggregate.dims, UsageAggregate.total).where(
            *_scope(UsageAggregate, organization_id, external_subscription_id, code), UsageAggregate.bucket == ALL_TIME
        )
    )
    return {dims: total for dims, total in rows}


def hours_from(session: Session, organization_id: uuid.UUID, external_subscription_id: str, code: str,
               first_hour: datetime) -> dict[str, Decimal]:
    """Sum of ``total`` per dimensions over the hours from ``first_hour`` on (to subtract from all time)."""
    rows = session.execute(
        select(UsageAggregate.dims, UsageAggregate.total).where(
            *_scope(UsageAggregate, organization_id, external_subscription_id, code),
            UsageAggregate.bucket >= first_hour,
        )
    )
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for dims, total in rows:
        sums[dims] += total
    return sums


def value_state_rows(session: Session, organization_id: uuid.UUID, external_subscription_id: str, code: str,
                     first_hour: datetime | None, end_hour: datetime | None) -> dict[str, list[ValueState]]:
    """Value states of the hours in ``[first_hour, end_hour)`` (``None``: unbounded; both
    ``None``: the all-time rows), by dimensions."""
    conditions = _scope(UsageValueState, organization_id, external_subscription_id, code)
    if first_hour is None and end_hour is None:
        conditions.append(UsageValueState.bucket == ALL_TIME)
    else:
        conditions.append(UsageValueState.bucket > ALL_TIME)
        if first_hour is not None:
            conditions.append(UsageValueState.bucket >= first_hour)
        if end_hour is not None:
            conditions.append(UsageValueState.bucket < end_hour)
    result: dict[str, list[ValueState]] = defaultdict(list)
    columns = (UsageValueState.dims, UsageValueState.value, UsageValueState.last_at, UsageValueState.last_seq,
               UsageValueState.added)
    for row in session.execute(select(*columns).where(*conditions)):
        result[row.dims].append(ValueState(row.value, (row.last_at, row.last_seq), row.added))
    return result


def raw_events(session: Session, organization_id: uuid.UUID, external_subscription_id: str, code: str,
               start: datetime | None, stop: datetime) -> Sequence[Event]:
    """Raw events with ``start <= timestamp < stop`` (``start`` ``None``: from the beginning)."""
    conditions = [*_scope(EventRow, organization_id, external_subscription_id, code), EventRow.timestamp < stop]
    if start is not None:
        conditions.append(EventRow.timestamp >= start)
    rows = session.execute(
        select(EventRow.id, EventRow.transaction_id, EventRow.timestamp, EventRow.properties).where(*conditions)
    )
    return [as_event(row) for row in rows]


def event_amounts(session: Session, ids: list[int]) -> dict[int, Decimal | None]:
    """``precise_total_amount_cents`` of the events with these ingestion ids (dynamic pricing)."""
    amounts: dict[int, Decimal | None] = {}
    for start in range(0, len(ids), 1000):
        rows = session.execute(select(EventRow.id, EventRow.precise_total_amount_cents)
                               .where(EventRow.id.in_(ids[start:start + 1000])))
        amounts.update({row.id: row.precise_total_amount_cents for row in rows})
    return amounts
