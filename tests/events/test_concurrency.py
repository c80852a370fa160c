"""Concurrent ingestion: many clients retrying the same batch count each event once, two batches
racing for one transaction id with different content store only one, and a usage rebuild racing
with ingestion counts each event once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from billow.core import clock
from billow.core.db import Database
from billow.events.schemas import EventIn
from billow.events.service import ingest
from billow.models import BillableMetric, UsageAggregate
from billow.usage import rebuild, store
from tests.conftest import LiveServer, Org, make_org

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
MARCH = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())
THREADS = 16


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


@pytest.fixture
def subscription(api: httpx.Client) -> None:
    """A sum of ``v`` priced per unit, on subscription ``sub`` of customer ``cus``."""
    metric = api.post("billable_metrics", json={"billable_metric": {
        "name": "GB", "code": "gb", "aggregation_type": "sum_agg", "field_name": "v"}})
    assert metric.status_code == 200, metric.text
    plan = api.post("plans", json={"plan": {
        "name": "P", "code": "p", "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR",
        "pay_in_advance": False,
        "charges": [{"billable_metric_id": metric.json()["billable_metric"]["lago_id"], "charge_model": "standard",
                     "properties": {"amount": "0.01"}}]}})
    assert plan.status_code == 200, plan.text
    assert api.post("customers", json={"customer": {"external_id": "cus", "currency": "EUR"}}).status_code == 200
    sub = api.post("subscriptions", json={"subscription": {
        "external_customer_id": "cus", "plan_code": "p", "external_id": "sub", "subscription_at": "2024-02-01T00:00:00Z"}})
    assert sub.status_code == 200, sub.text


def an_event(tx: str, v: Any, second: int = 0) -> dict[str, Any]:
    return {"transaction_id": tx, "external_subscription_id": "sub", "code": "gb", "timestamp": MARCH + second,
            "properties": {"v": v}}


def all_at_once(server: LiveServer, org: Org, jobs: list[Callable[[httpx.Client], Any]]) -> list[Any]:
    """Run each job on its own connection, released together by a barrier."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[httpx.Client], Any]) -> Any:
        with httpx.Client(base_url=f"{server.url}/api/v1/", headers={"Authorization": f"Bearer {org.api_key}"},
                          timeout=60) as client:
            client.get("events", params={"per_page": 1})  # connect before the race
            barrier.wait(timeout=30)
            return job(client)

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


def units(api: httpx.Client) -> Decimal:
    response = api.get("customers/cus/current_usage", params={"external_subscription_id": "sub"})
    assert response.status_code == 200, response.text
    return Decimal(response.json()["customer_usage"]["charges_usage"][0]["units"])


def total_count(api: httpx.Client) -> int:
    return int(api.get("events", params={"per_page": 1}).json()["meta"]["total_count"])


@pytest.mark.usefixtures("subscription")
def test_the_same_batch_from_many_clients_is_counted_once(api: httpx.Client, server: LiveServer, org: Org) -> None:
    expected_units = Decimal(0)
    for round_ in range(3):
        batch = [an_event(f"r{round_}-{i}", f"{i}.5" if i % 2 else i, second=round_ * 3600 + i) for i in range(100)]
        expected_units += sum((Decimal(str(e["properties"]["v"])) for e in batch), Decimal(0))

        responses = all_at_once(server, org, [lambda c, b=batch: c.post("events/batch", json={"events": b})] * THREADS)

        assert [r.status_code for r in responses] == [200] * THREADS, [r.text for r in responses if r.status_code != 200]
        answers = [[(e["transaction_id"], e["lago_id"]) for e in r.json()["events"]] for r in responses]
        assert [tx for tx, _ in answers[0]] == [e["transaction_id"] for e in batch]
        assert all(answer == answers[0] for answer in answers), "clients were given different lago_ids"
        assert len({lago_id for _, lago_id in answers[0]}) == 100
        assert total_count(api) == 100 * (round_ + 1)
        assert units(api) == expected_units  # one copy of each batch so far
        for tx, lago_id in answers[0][::17]:
            assert api.get(f"events/{tx}").json()["event"]["lago_id"] == lago_id


@pytest.mark.usefixtures("subscription")
def test_two_batches_racing_for_one_transaction_id_store_one(api: httpx.Client, server: LiveServer, org: Org) -> None:
    expected_units = Decimal(0)
    stored = 0
    for round_ in range(5):
        shared = f"shared-{round_}"
        batches = [
            [an_event(shared, 1)] + [an_event(f"a{round_}-{i}", 10) for i in range(9)],
            [an_event(shared, 2)] + [an_event(f"b{round_}-{i}", 1000) for i in range(9)],
        ]
        responses = all_at_once(server, org, [lambda c, b=b: c.post("events/batch", json={"events": b})
                                              for b in batches])

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 422], [r.text for r in responses]
        winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
        loser = responses[1 - winner]
        assert loser.json()["error_details"] == {"0": {"transaction_id": ["value_already_exist"]}}
        # Only the winner's events are stored; nothing of the refused batch is.
        assert api.get(f"events/{shared}").json()["event"]["properties"] == {"v": winner + 1}
        for tx in (e["transaction_id"] for e in batches[1 - winner][1:]):
            assert api.get(f"events/{tx}").status_code == 404
        for tx in (e["transaction_id"] for e in batches[winner][1:]):
            assert api.get(f"events/{tx}").status_code == 200
        stored += 10
        expected_units += (winner + 1) + 9 * (10 if winner == 0 else 1000)
        assert total_count(api) == stored
        assert units(api) == expected_units


def test_a_rebuild_while_events_arrive_counts_each_once(database: Database) -> None:
    """`billow usage rebuild` (delete the aggregates, re-add the raw events) while an event of a
    subscription new to the aggregates is ingested: the event is counted once, not by both (a
    PostgreSQL race: the rebuild's DELETE missed the new rows, its SELECT saw the new event)."""
    org = make_org(database)
    with database.unit_of_work() as session:
        session.add(BillableMetric(organization_id=org.id, name="m", code="m", aggregation_type="sum_agg",
                                   field_name="v"))

    def send(sub: str, tx: str) -> None:
        events = [EventIn(tx, sub, "m", datetime(2024, 3, 2, tzinfo=UTC), True, {"v": 5}, None)]
        database.group_commit.run(lambda session: ingest(session, org.id, events, batch=True))

    def all_time_total(sub: str) -> Decimal | None:
        with database.unit_of_work(write=False) as session:
            return session.scalar(select(UsageAggregate.total).where(
                UsageAggregate.organization_id == org.id, UsageAggregate.external_subscription_id == sub,
                UsageAggregate.grain == store.ALL_GRAIN))

    send("old-sub", "e1")
    deleted, resume = threading.Event(), threading.Event()

    def pause(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread().name == "rebuild" and statement.startswith("DELETE FROM usage_value_states"):
            deleted.set()
            resume.wait(10)

    def run_rebuild() -> None:
        with database.unit_of_work() as session:
            rebuild.rebuild_all(session, org.id)

    event.listen(database.engine, "after_cursor_execute", pause)
    try:
        rebuilder = threading.Thread(target=run_rebuild, name="rebuild")
        rebuilder.start()
        assert deleted.wait(10)
        sender = threading.Thread(target=send, args=("new-sub", "e2"))
        sender.start()
        sender.join(1)  # it may commit now, or wait for the rebuild to commit
        resume.set()
        rebuilder.join(30)
        sender.join(30)
        assert not rebuilder.is_alive() and not sender.is_alive()
    finally:
        resume.set()
        event.remove(database.engine, "after_cursor_execute", pause)
    assert (all_time_total("old-sub"), all_time_total("new-sub")) == (Decimal(5), Decimal(5))
