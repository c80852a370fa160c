"""A current-usage read is a handful of statements, whatever the plan and the customer's taxes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from billow.core.db import Database
from tests.usage.test_current_usage import MARCH, send, setup, usage


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL the server runs meanwhile (its request threads; not the test's own)."""
    seen: list[str] = []
    mine = threading.get_ident()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() != mine:
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def test_current_usage_reads_in_three_statements(api: httpx.Client, database: Database) -> None:
    for code, rate in (("vat", "20.0"), ("city", "1.5")):
        response = api.post("taxes", json={"tax": {"name": code, "code": code, "rate": rate}})
        assert response.status_code == 200, response.text
    setup(api, metrics=[
        {"code": "calls", "aggregation_type": "count_agg"},
        {"code": "tokens", "aggregation_type": "sum_agg", "field_name": "tokens",
         "filters": [{"key": "model", "values": ["small", "large"]}]},
        {"code": "gb", "aggregation_type": "sum_agg", "field_name": "gb"},
    ], charges=[
        {"code": "calls", "charge_model": "standard", "properties": {"amount": "0.01"}},
        {"code": "tokens", "charge_model": "standard", "properties": {"amount": "0.000002"},
         "filters": [{"values": {"model": ["large"]}, "properties": {"amount": "0.00001"}}]},
        {"code": "gb", "charge_model": "standard", "properties": {"amount": "0.5"}},
    ])
    response = api.post("customers", json={"customer": {"external_id": "cus", "tax_codes": ["vat", "city"]}})
    assert response.status_code == 200, response.text
    send(api, {"code": "calls", "timestamp": MARCH + 10},
         {"code": "tokens", "timestamp": MARCH + 20, "properties": {"tokens": 1000000, "model": "large"}},
         {"code": "gb", "timestamp": MARCH + 30, "properties": {"gb": "3"}})
    usage(api)  # the first read after a catalog change may rebuild; the steady state follows

    with statements(database) as seen:
        body = usage(api)
    # 1 (calls) + 1,000 (tokens at the large-model price) + 150 (gb) = 1,151 cents; taxes 20 % and
    # 1.5 % of it: 230.2 + 17.265 = 247.465, rounded once to 247.
    assert body["amount_cents"] == 1151
    assert body["taxes_amount_cents"] == 247
    assert body["total_amount_cents"] == 1398
    # The subscription, its customer, the organization's revision and the customer's taxes in one
    # statement; the aggregates' fingerprints; every charge's stored partials. Transaction control
    # and pool pings aside.
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT") and s.strip().upper() != "SELECT 1"]
    assert len(reads) == 3, reads
