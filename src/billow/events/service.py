"""Ingesting events exactly once, and reading them back.

:func:`ingest` runs inside a group-commit savepoint (see :mod:`billow.core.group_commit`): it
stores the new events, adds them to the usage aggregates in the same transaction, and
acknowledges exact retries without counting them again. Any error raises before the savepoint is
released, so nothing of a refused request is kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billow.core import clock
from billow.core.errors import ValidationFailed
from billow.events.schemas import Errors, EventIn
from billow.models import BillableMetric, Subscription
from billow.models import Event as EventRow
from billow.pricing.aggregation import Event as UsageEvent
from billow.pricing.expression import ExpressionError, parse
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
    for index, event in enumerate(events):
        profile = profiles.get(event.code)
        if profile is None or not profile.expression or not profile.field_name:
            continue
        try:
            value = parse(profile.expression).evaluate(
                {"code": event.code, "timestamp": event.timestamp, "properties": event.properties}
            )
        except ExpressionError:
            errors[index] = {"properties": ["invalid_expression"]}
            continue
        event.properties = {**event.properties, profile.field_name: value}


def _existing(session: Session, organization_id: uuid.UUID, events: list[EventIn]) -> dict[tuple[str, str], Any]:
    ids = {event.transaction_id for event in events}
    rows = session.execute(
        select(EventRow).where(EventRow.organization_id == organization_id, EventRow.transaction_id.in_(ids))
    ).scalars()
    return {(row.transaction_id, row.external_subscription_id): row for row in rows}


def _insert(session: Session, organization_id: uuid.UUID, events: list[EventIn]) -> dict[tuple[str, str], Any]:
    """Insert, skipping keys another transaction stored meanwhile; returns the rows inserted."""
    now = clock.now()
    rows = [
        {"organization_id": organization_id, "lago_id": uuid.uuid4(), "transaction_id": e.transaction_id,
         "external_subscription_id": e.external_subscription_id, "code": e.code, "timestamp": e.timestamp,
         "properties": e.properties, "precise_total_amount_cents": e.precise_total_amount_cents, "created_at": now}
        for e in events
    ]
    table = EventRow.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["organization_id", "transaction_id", "external_subscription_id"])
        .returning(table.c.id, table.c.transaction_id, table.c.external_subscription_id)
    )
    ids = {(r.transaction_id, r.external_subscription_id): r.id for r in session.execute(stmt, rows)}
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
