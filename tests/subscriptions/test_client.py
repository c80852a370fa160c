"""Subscriptions through the official lago-python-client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Subscription

from tests.subscriptions.conftest import START, Clock, create_plan


def test_client_create_find_update_find_all_destroy(api: Any, lago: Any, at: Clock) -> None:
    create_plan(api, "basic")
    create_plan(api, "premium", 2000)
    created = lago.subscriptions.create(
        Subscription(external_customer_id="acme", plan_code="basic", external_id="sub-1", name="Main", billing_time="anniversary")
    )
    assert (created.external_id, created.status, created.plan_code, created.billing_time) == (
        "sub-1", "active", "basic", "anniversary"
    )
    assert created.plan_amount_cents == "1000"  # the client types it as text
    assert created.current_billing_period_ending_at == "2024-04-14T23:59:59Z"

    found = lago.subscriptions.find("sub-1")
    assert (found.lago_id, found.name, found.external_customer_id) == (created.lago_id, "Main", "acme")

    updated = lago.subscriptions.update(Subscription(name="Renamed", ending_at="2025-01-01T00:00:00Z"), "sub-1")
    assert (updated.name, updated.ending_at) == ("Renamed", "2025-01-01T00:00:00Z")

    at(START + timedelta(days=2))
    upgraded = lago.subscriptions.create(Subscription(external_customer_id="acme", plan_code="premium", external_id="sub-1"))
    assert (upgraded.previous_plan_code, upgraded.started_at) == ("basic", "2024-03-17T10:30:00.000Z")

    page = lago.subscriptions.find_all(options={"external_customer_id": "acme", "status[]": ["active", "terminated"]})
    assert [(row.plan_code, row.status) for row in page["subscriptions"]] == [("premium", "active"), ("basic", "terminated")]
    assert page["meta"]["total_count"] == 2

    ended = lago.subscriptions.destroy("sub-1", options={"on_termination_invoice": "skip"})
    assert (ended.status, ended.terminated_at, ended.on_termination_invoice) == ("terminated", "2024-03-17T10:30:00Z", "skip")
    with pytest.raises(LagoApiError) as missing:
        lago.subscriptions.find("sub-1")
    assert missing.value.status_code == 404


def test_client_cancels_a_pending_subscription(api: Any, lago: Any, at: Clock) -> None:
    create_plan(api, "basic")
    pending = lago.subscriptions.create(
        Subscription(external_customer_id="acme", plan_code="basic", external_id="later", subscription_at="2024-04-01T00:00:00Z")
    )
    assert (pending.status, pending.started_at) == ("pending", None)
    assert lago.subscriptions.find("later", params={"status": "pending"}).lago_id == pending.lago_id
    canceled = lago.subscriptions.destroy("later", options={"status": "pending"})
    assert (canceled.status, canceled.canceled_at) == ("canceled", "2024-03-15T10:30:00Z")


def test_client_sees_lago_errors(api: Any, lago: Any, at: Clock) -> None:
    with pytest.raises(LagoApiError) as unknown_plan:
        lago.subscriptions.create(Subscription(external_customer_id="acme", plan_code="nope", external_id="x"))
    assert unknown_plan.value.status_code == 404
    create_plan(api, "basic")
    with pytest.raises(LagoApiError) as invalid:
        lago.subscriptions.create(
            Subscription(external_customer_id="acme", plan_code="basic", external_id="x", billing_time="weekly")
        )
    assert invalid.value.status_code == 422
    assert invalid.value.response["error_details"] == {"billing_time": ["value_is_invalid"]}
