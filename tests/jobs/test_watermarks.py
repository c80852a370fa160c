"""Event watermarks shared by ``event_errors``, ``draft_refresh`` and ``pay_in_advance_fees``: the
settle window, the jump of an organization with nothing to do (without reading its events), one
watermark per service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from billow.core.db import Database
from billow.fees import tasks as fee_tasks
from billow.invoices import tasks as draft_tasks
from billow.jobs import watermarks
from billow.models import Event, Fee
from billow.webhooks import event_errors
from tests.conftest import Org
from tests.scenarios.conftest import Clock, at, customer, subscribe, utc  # noqa: F401  (at: the frozen clock)

T = datetime(2024, 3, 3, 10, tzinfo=UTC)


def _store(database: Database, organization_id: uuid.UUID, *created: datetime, code: str = "calls") -> list[int]:
    """Events stored at those instants (``created_at``), in this id order."""
    with database.unit_of_work() as session:
        rows = [Event(organization_id=organization_id, transaction_id=f"tx-{uuid.uuid4()}",
                      external_subscription_id="sub", code=code, timestamp=when, properties={}, created_at=when)
                for when in created]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _position(database: Database, service: str, organization_id: uuid.UUID) -> int:
    with database.unit_of_work(write=False) as session:
        return watermarks.position(session, service, organization_id)


@contextmanager
def _statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements run on the database while the block runs."""
    seen: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def _event_reads(statements: list[str]) -> list[str]:
    return [statement for statement in statements if "FROM events" in statement]


def _pay_in_advance_catalog(api: httpx.Client) -> None:
    """``calls`` billed in advance, 0.50 each; ``storage`` in arrears."""
    metrics = {}
    for code, body in (("calls", {"aggregation_type": "count_agg"}),
                       ("storage", {"aggregation_type": "sum_agg", "field_name": "gb"})):
        created = api.post("billable_metrics", json={"billable_metric": {"name": code, "code": code, **body}})
        metrics[code] = created.json()["billable_metric"]["lago_id"]
    plan = {"name": "p", "code": "p", "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR",
            "pay_in_advance": False, "charges": [
                {"billable_metric_id": metrics["calls"], "charge_model": "standard", "pay_in_advance": True,
                 "invoiceable": False, "properties": {"amount": "0.5"}},
                {"billable_metric_id": metrics["storage"], "charge_model": "standard",
                 "properties": {"amount": "1"}}]}
    assert api.post("plans", json={"plan": plan}).status_code == 200


def test_an_organization_without_pay_in_advance_charges_is_skipped_without_reading_its_events(
        database: Database, org: Org) -> None:
    ids = _store(database, org.id, T, T, T + timedelta(minutes=1))
    now = T + timedelta(minutes=2)
    with _statements(database) as seen:
        step = fee_tasks.walker().step(database, org.id, now - timedelta(seconds=5), now)
    assert step == watermarks.Step(read=0, done=0, complete=True)
    assert _position(database, fee_tasks.SERVICE, org.id) == ids[-1]
    # The only statement on events is the newest settled id, walked backwards: no event is read.
    [read] = _event_reads(seen)
    assert read.startswith("SELECT events.id FROM events") and "ORDER BY events.id DESC" in read
    # Nothing new: the next run reads the position and the newest settled id, and writes nothing.
    with _statements(database) as seen:
        assert fee_tasks.create_fees(database, now, org.id) == 0
    assert not [statement for statement in seen if statement.startswith(("UPDATE", "INSERT"))]
    assert _position(database, fee_tasks.SERVICE, org.id) == ids[-1]


def test_the_jump_leaves_out_the_settle_window(database: Database, org: Org) -> None:
    ids = _store(database, org.id, T, T + timedelta(seconds=1), T + timedelta(seconds=20))
    settle = timedelta(seconds=5)
    # At T + 22 s the third event is 2 s old: the watermark stops at the second.
    assert fee_tasks.create_fees(database, T + timedelta(seconds=22), org.id, settle=settle) == 0
    assert _position(database, fee_tasks.SERVICE, org.id) == ids[1]
    assert fee_tasks.create_fees(database, T + timedelta(seconds=26), org.id, settle=settle) == 0
    assert _position(database, fee_tasks.SERVICE, org.id) == ids[2]
    # The draft refresh jumps too (no draft in the organization), with its own 30 s window.
    assert draft_tasks.refresh_batch(database, org.id, 100, T + timedelta(seconds=45)) == draft_tasks.Batch(0, 0)
    assert _position(database, draft_tasks.SERVICE, org.id) == ids[1]


def test_with_a_pay_in_advance_charge_every_event_is_read(api: httpx.Client, database: Database, org: Org) -> None:
    _pay_in_advance_catalog(api)
    ids = _store(database, org.id, T, T, T, code="storage")
    now = T + timedelta(minutes=1)
    step = fee_tasks.walker(batch=2).step(database, org.id, now, now)
    # Read two by two; events of a metric no pay-in-advance charge prices only move the watermark.
    assert step == watermarks.Step(read=2, done=0, complete=False)
    assert _position(database, fee_tasks.SERVICE, org.id) == ids[1]
    assert fee_tasks.walker(batch=2).step(database, org.id, now, now) == watermarks.Step(1, 0, True)
    assert _position(database, fee_tasks.SERVICE, org.id) == ids[2]


def test_a_batch_stops_at_the_first_event_not_settled(database: Database, org: Org) -> None:
    # Ids committed out of order: the first id was stored after the second.
    young, old = _store(database, org.id, T + timedelta(seconds=20), T)
    with database.unit_of_work(write=False) as session:
        settled = watermarks.next_events(session, org.id, 0, 10, T + timedelta(seconds=10))
        assert (settled.rows, settled.complete) == ([], True)
        later = watermarks.next_events(session, org.id, 0, 10, T + timedelta(seconds=30), Event.transaction_id)
        assert [row.id for row in later.rows] == [young, old] and later.complete
        assert watermarks.next_events(session, org.id, 0, 1, T + timedelta(seconds=30)).complete is False
        # The newest settled id (what a jump moves to) is the older event's.
        assert watermarks.settled_max(session, org.id, 0, T + timedelta(seconds=10)) == old
        assert watermarks.settled_max(session, org.id, old, T + timedelta(seconds=30)) is None


def test_a_watermark_moves_in_the_callers_transaction_and_never_back(database: Database, org: Org) -> None:
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        watermarks.move(session, "draft_refresh", org.id, 10)
        raise RuntimeError("rolled back")
    assert _position(database, "draft_refresh", org.id) == 0
    with database.unit_of_work() as session:
        watermarks.move(session, "draft_refresh", org.id, 10)
        watermarks.move(session, "draft_refresh", org.id, 7)
    assert _position(database, "draft_refresh", org.id) == 10


def test_each_service_has_its_own_watermark(api: httpx.Client, database: Database, org: Org) -> None:
    ids = _store(database, org.id, T, T, code="nope")
    now = T + timedelta(minutes=5)
    assert fee_tasks.create_fees(database, now, org.id) == 0
    assert [_position(database, service, org.id) for service in (
        fee_tasks.SERVICE, draft_tasks.SERVICE, event_errors.SERVICE)] == [ids[-1], 0, 0]
    # event_errors reads the same events from its own watermark and reports them.
    hook = {"webhook_url": "http://127.0.0.1:9/errors", "event_types": ["events.errors"]}
    assert api.post("webhook_endpoints", json={"webhook_endpoint": hook}).status_code == 200
    with database.unit_of_work() as session:
        found = event_errors.report(session, org.id, 100, now)
    assert found.looked_at == 2 and len(found.invalid_code) == 2
    assert [_position(database, service, org.id) for service in (
        fee_tasks.SERVICE, draft_tasks.SERVICE, event_errors.SERVICE)] == [ids[-1], 0, ids[-1]]


def test_event_errors_skips_an_organization_nobody_listens_to(api: httpx.Client, database: Database,
                                                              org: Org) -> None:
    hook = {"webhook_url": "http://127.0.0.1:9/customers", "event_types": ["customer.created"]}
    assert api.post("webhook_endpoints", json={"webhook_endpoint": hook}).status_code == 200
    first = _store(database, org.id, T, T, code="nope")
    now = T + timedelta(minutes=5)
    with _statements(database) as seen:
        assert event_errors.walker(100).step(database, org.id, now - event_errors.SETTLE, now) == watermarks.NOTHING
    [read] = _event_reads(seen)
    assert "ORDER BY events.id DESC" in read
    assert _position(database, event_errors.SERVICE, org.id) == first[-1]
    # Once an endpoint listens, the events stored from then on are read and reported.
    hook = {"webhook_url": "http://127.0.0.1:9/errors", "event_types": ["events.errors"]}
    assert api.post("webhook_endpoints", json={"webhook_endpoint": hook}).status_code == 200
    second = _store(database, org.id, now, code="nope")
    later = now + timedelta(minutes=5)
    step = event_errors.walker(100).step(database, org.id, later - event_errors.SETTLE, later)
    assert (step.read, step.complete) == (1, True)
    assert _position(database, event_errors.SERVICE, org.id) == second[-1]


def _selects_of_a_batch(api: httpx.Client, database: Database, organization_id: uuid.UUID, count: int,
                        when: datetime) -> int:
    for index in range(count):
        # Each event: a live metric but no subscription (an ``event.error`` each) and a bad code.
        body = {"transaction_id": f"{when.isoformat()}-{index}", "external_subscription_id": "nobody",
                "code": "calls" if index % 2 else "nope", "timestamp": int(when.timestamp()), "properties": {}}
        assert api.post("events", json={"event": body}).status_code == 200
    later = datetime.now(UTC) + timedelta(minutes=1)
    with _statements(database) as seen, database.unit_of_work() as session:
        found = event_errors.report(session, organization_id, 1000, later)
    assert found.looked_at == count and len(found.without_subscription) == count // 2
    return len([statement for statement in seen if statement.startswith("SELECT")])


def test_an_event_errors_batch_costs_the_same_queries_whatever_its_size(api: httpx.Client, database: Database,
                                                                         org: Org) -> None:
    calls = {"name": "calls", "code": "calls", "aggregation_type": "count_agg"}
    assert api.post("billable_metrics", json={"billable_metric": calls}).status_code == 200
    hook = {"webhook_url": "http://127.0.0.1:9/errors"}
    assert api.post("webhook_endpoints", json={"webhook_endpoint": hook}).status_code == 200
    small = _selects_of_a_batch(api, database, org.id, 2, T)
    large = _selects_of_a_batch(api, database, org.id, 20, T + timedelta(hours=1))
    assert small == large


def test_events_passed_before_the_first_pay_in_advance_charge_are_not_billed_in_advance(
        api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    [before] = _store(database, org.id, T)
    assert fee_tasks.create_fees(database, T + timedelta(minutes=1), org.id) == 0  # passed: no charge yet
    _pay_in_advance_catalog(api)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "p", utc(2024, 3, 1))
    [after] = _store(database, org.id, T + timedelta(minutes=2))
    # Only the event stored once the charge exists gets its fee (the one before it would too,
    # had no run passed it).
    assert fee_tasks.create_fees(database, T + timedelta(minutes=3), org.id) == 1
    with database.unit_of_work(write=False) as session:
        billed = session.scalars(select(Fee.pay_in_advance_event_id).where(Fee.organization_id == org.id)).all()
    assert billed == [after] and before < after
