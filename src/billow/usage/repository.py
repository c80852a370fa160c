"""Reads of the stored usage: the aggregate rows a window needs, value states, and the raw events
of a window's ragged edges (:mod:`billow.usage.store` writes the aggregates)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billow.models import Event as EventRow
from billow.models import UsageAggregate, UsageValueState
from billow.pricing.aggregation import Event
from billow.pricing.partials import Grain, Partial, ValueState, cover
from billow.usage.store import ALL_GRAIN, as_event

# Plain columns, not ORM entities: a usage read takes many bucket rows per charge, and building
# (and identity-mapping) an object per row cost most of its time.
_PARTIAL_COLUMNS = (UsageAggregate.dims, UsageAggregate.grain, UsageAggregate.bucket, UsageAggregate.events,
                    UsageAggregate.counted, UsageAggregate.total, UsageAggregate.maximum, UsageAggregate.latest_at,
                    UsageAggregate.latest_seq, UsageAggregate.latest_value, UsageAggregate.tail)


def _partial_of_row(row: Any) -> Partial:
    latest = (row.latest_at, row.latest_seq) if row.latest_at is not None else None
    return Partial(Grain(row.grain).end(row.bucket), row.events, row.counted, row.total, row.maximum, latest,
                   row.latest_value, row.tail)


def _scope(model: Any, organization_id: uuid.UUID, external_subscription_id: str, code: str) -> list[Any]:
    return [model.organization_id == organization_id, model.external_subscription_id == external_subscription_id,
            model.code == code]


_RUNS = 5  # cover() gives at most hours, days, months, days, hours


def _slots(model: Any) -> ColumnElement[bool]:
    """Buckets of ``model`` in one of the :func:`cover` runs given by :func:`_cover_params`: a slot
    per run, so that statements using it are built once."""
    return or_(*(and_(model.grain == bindparam(f"grain{i}"), model.bucket >= bindparam(f"from{i}"),
                      model.bucket < bindparam(f"to{i}")) for i in range(_RUNS)))


def _cover_params(start: datetime, end: datetime) -> dict[str, Any]:
    """The slots' values for the buckets that tile the hour-aligned ``[start, end)``: whole months,
    days, hours (unused slots take a grain no row has)."""
    runs = cover(start, end)
    params: dict[str, Any] = {}
    for i in range(_RUNS):
        grain, first, stop = runs[i] if i < len(runs) else (-1, start, start)
        params.update({f"grain{i}": int(grain), f"from{i}": first, f"to{i}": stop})
    return params


_PARTIALS = select(*_PARTIAL_COLUMNS).where(
    UsageAggregate.organization_id == bindparam("organization_id"),
    UsageAggregate.external_subscription_id == bindparam("external_subscription_id"),
    UsageAggregate.code == bindparam("code"), _slots(UsageAggregate))


def window_partials(session: Session, organization_id: uuid.UUID, external_subscription_id: str, code: str,
                    first_hour: datetime, end_hour: datetime) -> dict[str, list[Partial]]:
    """Stored partials covering ``[first_hour, end_hour)``, by dimensions (the coarsest buckets
    that fit: a month-long window reads a month or a few dozen days and hours per dimension set)."""
    params = {"organization_id": organization_id, "external_subscription_id": external_subscription_id,
              "code": code, **_cover_params(first_hour, end_hour)}
    result: dict[str, list[Partial]] = defaultdict(list)
    for row in session.connection().execute(_PARTIALS, params):  # Core rows: no ORM layer on the read path
        result[row.dims].append(_partial_of_row(row))
    return result


def window_partials_of_many(session: Session, organization_id: uuid.UUID, external_subscription_ids: Collection[str],
                            codes: Collection[str], first_hour: datetime,
                            end_hour: datetime) -> dict[tuple[str, str], dict[str, list[Partial]]]:
    """:func:`window_partials` of every (subscription, code) of these, in one query (every pair is
    in the answer, with nothing stored or not)."""
    result: dict[tuple[str, str], dict[str, list[Partial]]] = {
        (sub, code): defaultdict(list) for sub in external_subscription_ids for code in codes}
    params = {"organization_id": organization_id, "external_subscription_ids": list(external_subscription_ids),
              "codes": list(codes), **_cover_params(first_hour, end_hour)}
    for row in session.connection().execute(_PARTIALS_OF_MANY, params):
        result[(row.external_subscription_id, row.code)][row.dims].append(_partial_of_row(row))
    return result


_PARTIALS_OF_MANY = select(UsageAggregate.external_subscription_id, UsageAggregate.code, *_PARTIAL_COLUMNS).where(
    UsageAggregate.organization_id == bindparam("organization_id"),
    UsageAggregate.external_subscription_id.in_(bindparam("external_subscription_ids", expanding=True)),
    UsageAggregate.code.in_(bindparam("codes", expanding=True)), _slots(UsageAggregate))


def all_time_totals(session: Session, organization_id: uuid.UUID, external_subscription_id: str,
                    code: str) -> dict[str, Decimal]:
    rows = session.execute(
        select(UsageAggregate.dims, UsageAggregate.total).where(
            *_scope(UsageAggregate, organization_id, external_subscription_id, code), UsageAggregate.grain == ALL_GRAIN
        )
    )
    return {dims: total for dims, total in rows}


def hours_from(session: Session, organization_id: uuid.UUID, external_subscription_id: str, code: str,
               first_hour: datetime) -> dict[str, Decimal]:
    """Sum of ``total`` per dimensions over the hours from ``first_hour`` on (to subtract from all time)."""
    rows = session.execute(
        select(UsageAggregate.dims, UsageAggregate.total).where(
            *_scope(UsageAggregate, organization_id, external_subscription_id, code),
            UsageAggregate.grain == int(Grain.HOUR), UsageAggregate.bucket >= first_hour,
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
    params: dict[str, Any] = {}
    if first_hour is None and end_hour is None:
        conditions.append(UsageValueState.grain == ALL_GRAIN)
    elif first_hour is not None and end_hour is not None:
        conditions.append(_slots(UsageValueState))
        params = _cover_params(first_hour, end_hour)
    else:
        conditions.append(UsageValueState.grain == int(Grain.HOUR))
        if first_hour is not None:
            conditions.append(UsageValueState.bucket >= first_hour)
        if end_hour is not None:
            conditions.append(UsageValueState.bucket < end_hour)
    result: dict[str, list[ValueState]] = defaultdict(list)
    columns = (UsageValueState.dims, UsageValueState.value, UsageValueState.last_at, UsageValueState.last_seq,
               UsageValueState.added)
    for row in session.execute(select(*columns).where(*conditions), params):
        result[row.dims].append(ValueState(row.value, (row.last_at, row.last_seq), row.added))
    return result


def raw_events(session: Session, organization_id: uuid.UUID, external_subscription_id: str, code: str,
               start: datetime | None, stop: datetime) -> Sequence[Event]:
    """Raw events with ``start <= timestamp < stop`` (``start`` ``None``: from the beginning)."""
    if start is not None and start >= stop:  # a window's edge that is a whole hour: nothing to read
        return []
    params = {"organization_id": organization_id, "external_subscription_id": external_subscription_id,
              "code": code, "stop": stop}
    if start is None:
        return [as_event(row) for row in session.connection().execute(_RAW_EVENTS_BEFORE, params)]
    return [as_event(row) for row in session.connection().execute(_RAW_EVENTS, {**params, "start": start})]


_RAW_EVENTS_BEFORE = select(EventRow.id, EventRow.transaction_id, EventRow.timestamp, EventRow.properties).where(
    EventRow.organization_id == bindparam("organization_id"),
    EventRow.external_subscription_id == bindparam("external_subscription_id"),
    EventRow.code == bindparam("code"), EventRow.timestamp < bindparam("stop"))
_RAW_EVENTS = _RAW_EVENTS_BEFORE.where(EventRow.timestamp >= bindparam("start"))


def event_amounts(session: Session, ids: list[int]) -> dict[int, Decimal | None]:
    """``precise_total_amount_cents`` of the events with these ingestion ids (dynamic pricing)."""
    amounts: dict[int, Decimal | None] = {}
    for start in range(0, len(ids), 1000):
        rows = session.execute(select(EventRow.id, EventRow.precise_total_amount_cents)
                               .where(EventRow.id.in_(ids[start:start + 1000])))
        amounts.update({row.id: row.precise_total_amount_cents for row in rows})
    return amounts
