"""Webhooks emitted by what exists: subscriptions started/terminated, and event errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from billow.core import clock
from billow.core.db import Database
from billow.jobs.worker import run_pending
from billow.webhooks import event_errors
from tests.webhooks.support import Receiver, add_endpoint, deliver, settings_for, webhooks_of


def _plan(api: httpx.Client, code: str, amount_cents: int) -> None:
    body = {"name": code, "code": code, "interval": "monthly", "amount_cents": amount_cents, "amount_currency": "EUR"}
    assert api.post("plans", json={"plan": body}).status_code == 200


def _subscribe(api: httpx.Client, plan_code: str, **fields: Any) -> dict[str, Any]:
    body = {"external_customer_id": "cus-sub", "plan_code": plan_code, "external_id": "sub-1", **fields}
    response = api.post("subscriptions", json={"subscription": body})
    assert response.status_code == 200, response.text
    return response.json()["subscription"]  # type: ignore[no-any-return]


def test_subscription_started_upgraded_and_terminated(api: httpx.Client, database: Database,
                                                      receiver: Receiver) -> None:
    _plan(api, "basic", 1000)
    _plan(api, "premium", 5000)
    add_endpoint(api, receiver.url, event_types=["subscription.started", "subscription.terminated"])
    started = _subscribe(api, "basic")
    upgraded = _subscribe(api, "premium")  # an upgrade: the old one ends, a new one starts now
    terminated = api.delete("subscriptions/sub-1").json()["subscription"]
    pending = _subscribe(api, "basic", subscription_at="2999-01-01T00:00:00Z", external_id="sub-later")
    assert pending["status"] == "pending"
    deliver(database)

    seen = [(request.json["webhook_type"], request.json["subscription"]) for request in receiver.requests]
    assert [kind for kind, _ in seen] == [
        "subscription.started", "subscription.terminated", "subscription.started", "subscription.terminated"]
    assert seen[0][1] == started  # the object as the API returned it
    assert seen[1][1]["lago_id"] == started["lago_id"] and seen[1][1]["status"] == "terminated"
    assert seen[1][1]["next_plan_code"] == "premium"
    assert seen[2][1] == upgraded
    assert seen[3][1] == terminated
    assert all(request.json["object_type"] == "subscription" for request in receiver.requests)


def test_a_customer_created_with_its_subscription_is_announced_as_the_api_shows_it(
        api: httpx.Client, database: Database, receiver: Receiver) -> None:
    _plan(api, "eur", 1000)
    add_endpoint(api, receiver.url, event_types=["customer.created"])
    _subscribe(api, "eur")
    deliver(database)
    [request] = receiver.requests
    assert request.json["customer"] == api.get("customers/cus-sub").json()["customer"]
    assert request.json["customer"]["currency"] == "EUR"


def test_pending_subscription_starting_on_update_is_announced(api: httpx.Client, database: Database,
                                                               receiver: Receiver) -> None:
    _plan(api, "later", 1000)
    add_endpoint(api, receiver.url, event_types=["subscription.started"])
    _subscribe(api, "later", subscription_at="2999-01-01T00:00:00Z")
    deliver(database)
    assert receiver.requests == []
    moved = api.put("subscriptions/sub-1", json={"subscription": {"subscription_at": "2020-01-01T00:00:00Z"}})
    assert moved.json()["subscription"]["status"] == "active"
    deliver(database)
    assert [request.json["subscription"]["status"] for request in receiver.requests] == ["active"]


def _events_setup(api: httpx.Client) -> None:
    metrics = [
        {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"},
        {"name": "Tokens", "code": "tokens", "aggregation_type": "sum_agg", "field_name": "tokens",
         "filters": [{"key": "model", "values": ["small", "large"]}]},
    ]
    for metric in metrics:
        assert api.post("billable_metrics", json={"billable_metric": metric}).status_code == 200
    _plan(api, "usage", 0)
    _subscribe(api, "usage", subscription_at="2024-01-01T00:00:00Z")


def _event(api: httpx.Client, tx: str, code: str, sub: str = "sub-1", **properties: Any) -> None:
    body = {"transaction_id": tx, "external_subscription_id": sub, "code": code, "timestamp": 1717200000,
            "properties": properties}
    assert api.post("events", json={"event": body}).status_code == 200


def test_event_errors_are_reported_once(api: httpx.Client, database: Database, org: Any,
                                        receiver: Receiver) -> None:
    _events_setup(api)
    add_endpoint(api, receiver.url, event_types=["events.errors", "event.error"])
    _event(api, "ok-1", "calls")
    _event(api, "ok-2", "tokens", tokens=5, model="large")
    _event(api, "bad-code", "nope")
    _event(api, "no-field", "tokens", model="small")
    _event(api, "bad-filter", "tokens", tokens=1, model="huge")
    _event(api, "no-sub", "calls", sub="sub-unknown")

    # Just stored: left for a later run (their ids may still commit out of order).
    with database.unit_of_work() as session:
        assert event_errors.report(session, org.id, 1000, clock.now()).events_errors() is None
    later = clock.now() + timedelta(minutes=1)
    settings = settings_for(database, periodic_billing_clock_enabled=False, periodic_webhook_sweeper_enabled=False,
                            periodic_jobs_cleanup_enabled=False, periodic_draft_refresh_enabled=False)
    run_pending(database, settings, now=later, periodic=True, names=["periodic.event_errors"])
    deliver(database, now=later)

    by_type = {request.json["webhook_type"]: request.json for request in receiver.requests}
    assert sorted(by_type) == ["event.error", "events.errors"]
    assert by_type["events.errors"]["object_type"] == "events_errors"
    assert by_type["events.errors"]["events_errors"] == {
        "invalid_code": ["bad-code"], "missing_aggregation_property": ["no-field"],
        "invalid_filter_values": ["bad-filter"], "missing_group_key": []}
    error = by_type["event.error"]
    assert error["object_type"] == "event_error"
    assert error["event_error"]["status"] == 422
    assert error["event_error"]["message"] == {"external_subscription_id": ["subscription_not_found"]}
    assert error["event_error"]["event"] == api.get("events/no-sub").json()["event"]

    # The watermark moved with the webhooks: nothing is reported twice, new events are.
    with database.unit_of_work() as session:
        assert event_errors.report(session, org.id, 1000, later).events_errors() is None
    _event(api, "bad-again", "nope")
    with database.unit_of_work() as session:
        found = event_errors.report(session, org.id, 1000, later + timedelta(minutes=1))
    assert found.invalid_code == ["bad-again"]
    assert len([w for w in webhooks_of(database, org.id) if w.webhook_type == "events.errors"]) == 2


def test_event_errors_batch_limit_walks_forward(api: httpx.Client, database: Database, org: Any,
                                                receiver: Receiver) -> None:
    add_endpoint(api, receiver.url)
    for index in range(5):
        _event(api, f"x-{index}", "unknown")
    later = clock.now() + timedelta(minutes=1)
    reported = []
    for _ in range(3):
        with database.unit_of_work() as session:
            reported.append(event_errors.report(session, org.id, 2, later).invalid_code)
    assert reported == [["x-0", "x-1"], ["x-2", "x-3"], ["x-4"]]


def test_one_event_errors_run_reads_every_batch_waiting(api: httpx.Client, database: Database, org: Any,
                                                        receiver: Receiver) -> None:
    """A run keeps reading batches while there are more: reports keep up with the ingest rate."""
    add_endpoint(api, receiver.url)
    for index in range(5):
        _event(api, f"y-{index}", "unknown")
    later = clock.now() + timedelta(hours=3)  # a periodic slot no other test runs in
    settings = settings_for(database, periodic_billing_clock_enabled=False, periodic_webhook_sweeper_enabled=False,
                            periodic_jobs_cleanup_enabled=False, periodic_draft_refresh_enabled=False,
                            event_errors_batch=2)
    run_pending(database, settings, now=later, periodic=True, names=["periodic.event_errors"])
    reported = [w for w in webhooks_of(database, org.id) if w.webhook_type == "events.errors"]
    assert len(reported) == 3  # batches of 2, 2 and 1, in one run
    with database.unit_of_work() as session:
        assert event_errors.report(session, org.id, 2, later).looked_at == 0
