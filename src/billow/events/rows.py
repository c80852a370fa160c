"""Events as rows: what the driver inserts, and what an ingest answers with."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from billow.core import clock, jsontext
from billow.core.types import sqlite_datetime, sqlite_uuid
from billow.events.schemas import EventIn
from billow.usage import store


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


COLUMNS = ("organization_id", "lago_id", "transaction_id", "external_subscription_id", "code", "timestamp",
           "properties", "precise_total_amount_cents", "created_at")



def pg_insert(where: str = "", *, skip_stored: bool = True) -> str:
    """PostgreSQL: the rows as one JSON parameter taken apart by the server (see billow.usage.store),
    inserted if ``where`` holds. Keys stored already are skipped, or fail the statement
    (``skip_stored=False``). Returns the id of each row inserted, with its key."""
    conflict = (" ON CONFLICT (organization_id, transaction_id, external_subscription_id) DO NOTHING"
                if skip_stored else "")
    return (f"INSERT INTO events ({', '.join(COLUMNS)}) {store.pg_rows_source(COLUMNS)}{where}{conflict}"
            " RETURNING id, transaction_id, external_subscription_id")


PG_INSERT = pg_insert()

# SQLite: writers hold the database lock from their first statement (``BEGIN IMMEDIATE``) and the
# keys were looked up under it, so the rows get the next ids explicitly and go in with one plain
# executemany. A key stored meanwhile is impossible; if it happened, the unique constraint would
# fail the whole request rather than skip a row.
SQLITE_INSERT = f"INSERT INTO events (id, {', '.join(COLUMNS)}) VALUES ({', '.join(['?'] * (len(COLUMNS) + 1))})"


def driver_rows(organization_id: uuid.UUID, events: list[EventIn], lago_ids: list[uuid.UUID], now: datetime,
                sqlite: bool) -> list[tuple[Any, ...]]:
    """Each event as the driver takes it: the texts SQLite stores for the column types, or the
    values of PostgreSQL's JSON rows (orjson writes UUIDs and instants in ISO form itself)."""
    org: Any = organization_id
    created: Any = now
    ids: list[Any] = lago_ids
    stamps: list[Any] = [e.timestamp for e in events]
    if sqlite:
        org, created = sqlite_uuid(organization_id), sqlite_datetime(now)
        ids, stamps = [sqlite_uuid(lago_id) for lago_id in lago_ids], [sqlite_datetime(stamp) for stamp in stamps]
    return [
        (org, lago_id, e.transaction_id, e.external_subscription_id, e.code, stamp, jsontext.dumps_parsed(e.properties),
         None if e.precise_total_amount_cents is None else str(e.precise_total_amount_cents), created)
        for e, lago_id, stamp in zip(events, ids, stamps, strict=True)
    ]


@dataclass
class NewRows:
    """Events as the driver inserts them (without ids on SQLite), with what their answers need."""

    events: list[EventIn]
    lago_ids: list[uuid.UUID]
    rows: list[tuple[Any, ...]]
    now: datetime


def lago_ids(count: int) -> list[uuid.UUID]:
    """``count`` random (version 4) UUIDs from one read of the system's random source (one call
    per event cost a system call each, and a wait for the interpreter lock after it)."""
    randomness = os.urandom(16 * count)
    return [uuid.UUID(bytes=randomness[16 * index:16 * index + 16], version=4) for index in range(count)]


def new_rows(organization_id: uuid.UUID, events: list[EventIn], sqlite: bool) -> NewRows:
    now = clock.now()
    ids = lago_ids(len(events))
    return NewRows(events, ids, driver_rows(organization_id, events, ids, now, sqlite), now)
