"""The rows a billing chunk writes in bulk (:mod:`billow.invoices.rows`, :mod:`billow.invoices.bulk`):
plain rows start with the defaults a flush would give, and a row is stored the same through
``COPY`` (PostgreSQL) as through an ``INSERT`` (SQLite)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import inspect, select

from billow.core import clock
from billow.core.db import Database
from billow.invoices import bulk, rows
from billow.models import Fee, Job


def test_a_plain_row_starts_with_every_default_in_the_table_order() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with clock.frozen(at):
        first, second = rows.FeeRow(fee_type="charge", amount_cents=7), rows.FeeRow(fee_type="subscription")
    columns = [prop.key for prop in inspect(Fee).column_attrs]
    assert list(first.__dict__) == columns  # every column, in order: one shape for COPY
    assert (first.amount_cents, first.fee_type, second.amount_cents) == (7, "charge", None)
    assert isinstance(first.id, uuid.UUID) and first.id != second.id
    assert first.created_at == first.updated_at == at
    assert (first.item, first.grouped_by, first.applied_taxes, first.taxes_rate, first.payment_status,
            first.invoiceable, first.charge_filter_id) == ({}, {}, [], Decimal(0), "pending", True, None)
    first.item["code"] = "calls"
    assert second.item == {}  # each row has its own
    given = uuid.uuid4()
    assert rows.FeeRow(id=given).id == given
    row = bulk.values(first, Fee)
    assert row["amount_cents"] == 7 and row["id"] == first.id and len(row) == len(columns)


def test_json_values_are_stored_as_a_statement_would_store_them(database: Database) -> None:
    tag = uuid.uuid4().hex
    now = datetime(2030, 1, 1, tzinfo=UTC)
    payloads = [None, {1: "integer key"}, {"big": 2**70, "list": [1.5, None, "é"]}, {}]
    with database.unit_of_work() as session:
        bulk.insert_rows(session, bulk.table_of(Job), [
            {"name": "bulk.test", "payload": payload, "state": "done", "dedupe_key": f"{tag}:{n}", "run_at": now,
             "attempts": 0, "created_at": now, "updated_at": now} for n, payload in enumerate(payloads)])
    with database.unit_of_work(write=False) as session:
        stored = session.execute(select(Job.payload, Job.run_at).where(Job.dedupe_key.startswith(tag))
                                 .order_by(Job.dedupe_key)).all()
    assert [payload for payload, _ in stored] == [None, {"1": "integer key"},
                                                  {"big": 2**70, "list": [1.5, None, "é"]}, {}]
    assert {run_at for _, run_at in stored} == {now}
