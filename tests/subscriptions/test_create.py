"""Creating subscriptions over the raw wire: shape, start rules, customer on the fly, validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from billow.core.db import Database
from billow.models import Customer, Subscription
from tests.conftest import make_org
from tests.customers.support import client_for
from tests.subscriptions.conftest import (
    START,
    Clock,
    create_plan,
    error_details,
    not_found,
    subscribe,
    subscribed,
)

SUBSCRIPTION_KEYS = {
    "lago_id", "external_id", "lago_customer_id", "external_customer_id", "billing_entity_code", "name",
    "plan_code", "plan_amount_cents", "plan_amount_currency", "status", "billing_time", "subscription_at",
    "started_at", "trial_ended_at", "ending_at", "terminated_at", "canceled_at", "created_at",
    "previous_plan_code", "next_plan_code", "downgrade_plan_date", "current_billing_period_started_at",
    "current_billing_period_ending_at", "on_termination_credit_note", "on_termination_invoice",
    "progressive_billing_disabled", "consolidate_invoice", "purchase_order_number", "payment_method",
    "applied_invoice_custom_sections", "plan", "applicable_usage_thresholds",
}


def test_create_starts_now_and_creates_the_customer(api: httpx.Client, at: Clock) -> None:
    plan = create_plan(api, "basic", usage_thresholds=[{"amount_cents": 5000, "threshold_display_name": "T"}])
    body = subscribed(api, "sub-1", "basic", customer="new-customer", name="Main")

    assert set(body) == SUBSCRIPTION_KEYS
    customer = api.get("customers/new-customer").json()["customer"]
    assert customer["currency"] == "EUR"  # the plan's currency is bound to the new customer
    assert body["lago_customer_id"] == customer["lago_id"]
    assert body["plan"] == api.get("plans/basic").json()["plan"] == plan
    assert body["applicable_usage_thresholds"] == [{"threshold_display_name": "T", "amount_cents": 5000, "recurring": False}]
    assert {k: body[k] for k in body if k not in ("lago_id", "lago_customer_id", "plan", "applicable_usage_thresholds")} == {
        "external_id": "sub-1",
        "external_customer_id": "new-customer",
        "billing_entity_code": None,
        "name": "Main",
        "plan_code": "basic",
        "plan_amount_cents": 1000,
        "plan_amount_currency": "EUR",
        "status": "active",
        "billing_time": "calendar",
        "subscription_at": "2024-03-15T10:30:00Z",
        "started_at": "2024-03-15T10:30:00.000Z",
        "trial_ended_at": None,
        "ending_at": None,
        "terminated_at": None,
        "canceled_at": None,
        "created_at": "2024-03-15T10:30:00Z",
        "previous_plan_code": None,
        "next_plan_code": None,
        "downgrade_plan_date": None,
        # The charges window of the first period starts at the exact start instant.
        "current_billing_period_started_at": "2024-03-15T10:30:00Z",
        "current_billing_period_ending_at": "2024-03-31T23:59:59Z",
        "on_termination_credit_note": None,
        "on_termination_invoice": "generate",
        "progressive_billing_disabled": False,
        "consolidate_invoice": True,
        "purchase_order_number": None,
        "payment_method": {"payment_method_type": "provider", "payment_method_id": None},
        "applied_invoice_custom_sections": [],
    }
    assert api.get("subscriptions/sub-1").json()["subscription"] == body


def test_started_at_keeps_milliseconds(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic")
    at(START + timedelta(microseconds=123456))
    body = subscribed(api, "sub-1", "basic")
    assert body["started_at"] == "2024-03-15T10:30:00.123Z"
    assert body["subscription_at"] == "2024-03-15T10:30:00Z"


def test_back_dated_subscription_is_active_from_its_date(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic")
    body = subscribed(api, "sub-1", "basic", subscription_at="2024-02-10T08:00:00+02:00")
    assert (body["status"], body["subscription_at"], body["started_at"]) == (
        "active", "2024-02-10T06:00:00Z", "2024-02-10T06:00:00.000Z"
    )
    assert body["current_billing_period_started_at"] == "2024-03-01T00:00:00Z"


def test_future_subscription_is_pending(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic")
    body = subscribed(api, "sub-1", "basic", subscription_at="2024-04-01T00:00:00Z", billing_time="anniversary")
    assert (body["status"], body["started_at"], body["billing_time"]) == ("pending", None, "anniversary")
    assert body["current_billing_period_started_at"] is None and body["current_billing_period_ending_at"] is None
    not_found(api.get("subscriptions/sub-1"))  # only active ones by default
    assert api.get("subscriptions/sub-1", params={"status": "pending"}).json()["subscription"]["lago_id"] == body["lago_id"]


def test_existing_customer_is_used(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic")
    customer = api.post("customers", json={"customer": {"external_id": "acme", "name": "Acme"}}).json()["customer"]
    body = subscribed(api, "sub-1", "basic", customer="acme")
    assert body["lago_customer_id"] == customer["lago_id"]
    assert api.get("customers/acme").json()["customer"]["name"] == "Acme"


def test_trial_end_is_shown_once_the_trial_is_over(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "trial", trial_period=2.5)
    assert subscribed(api, "sub-1", "trial")["trial_ended_at"] is None
    at(START + timedelta(days=2, hours=11))
    assert api.get("subscriptions/sub-1").json()["subscription"]["trial_ended_at"] is None
    at(START + timedelta(days=2, hours=12))
    assert api.get("subscriptions/sub-1").json()["subscription"]["trial_ended_at"] == "2024-03-17T22:30:00Z"


def test_subscription_keeps_the_plan_version_it_was_priced_on(
    api: httpx.Client, database: Database, org: Any, at: Clock
) -> None:
    create_plan(api, "basic")
    subscribed(api, "old", "basic")
    assert api.put("plans/basic", json={"plan": {"amount_cents": 1500}}).status_code == 200
    subscribed(api, "new", "basic")

    old = api.get("subscriptions/old").json()["subscription"]
    new = api.get("subscriptions/new").json()["subscription"]
    assert (old["plan_amount_cents"], new["plan_amount_cents"]) == (1000, 1500)
    assert old["plan"]["amount_cents"] == 1500  # the nested plan is the plan as it is now
    with database.unit_of_work(write=False) as session:
        rows = session.execute(
            select(Subscription.external_id, Subscription.plan_version).where(Subscription.organization_id == org.id)
        )
        versions = {external_id: version for external_id, version in rows}
    assert (versions["old"], versions["new"]) == (1, 2)

    # A cascaded edit moves existing subscriptions to the new terms.
    assert api.put("plans/basic", json={"plan": {"amount_cents": 2000, "cascade_updates": True}}).status_code == 200
    assert api.get("subscriptions/old").json()["subscription"]["plan_amount_cents"] == 2000


# ---- refusals ------------------------------------------------------------------------------------


def test_mandatory_and_invalid_fields(api: httpx.Client, at: Clock, unchanged: Any) -> None:
    create_plan(api, "basic")
    with unchanged():
        response = api.post("subscriptions", json={"subscription": {"name": "x"}})
        assert error_details(response) == {
            "external_customer_id": ["value_is_mandatory"],
            "plan_code": ["value_is_mandatory"],
            "external_id": ["value_is_mandatory"],
        }
        assert error_details(subscribe(api, " ", "basic")) == {"external_id": ["value_is_mandatory"]}
        assert error_details(subscribe(api, "sub-1", "basic", billing_time="monthly")) == {"billing_time": ["value_is_invalid"]}
        assert error_details(subscribe(api, "sub-1", "basic", subscription_at="yesterday")) == {
            "subscription_at": ["invalid_date"]
        }
        assert error_details(subscribe(api, "sub-1", "basic", subscription_at=1710000000)) == {
            "subscription_at": ["invalid_date"]
        }
        assert error_details(subscribe(api, "sub-1", "basic", plan_overrides={"amount_cents": -1})) == {
            "amount_cents": ["value_is_out_of_range"]
        }
        missing = api.post("subscriptions", json={"authorization": {"amount_cents": 100}})
        assert missing.status_code == 400


def test_ending_at_must_be_after_the_subscription_date_and_today(api: httpx.Client, at: Clock, unchanged: Any) -> None:
    create_plan(api, "basic")
    with unchanged():
        for ending_at, subscription_at in (
            ("2024-03-15T23:00:00Z", None),  # today
            ("2024-03-01T00:00:00Z", None),  # past
            ("2024-05-01T12:00:00Z", "2024-05-01T08:00:00Z"),  # same day as the start
            ("2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"),  # before the start
        ):
            fields = {"ending_at": ending_at, **({"subscription_at": subscription_at} if subscription_at else {})}
            assert error_details(subscribe(api, "sub-1", "basic", **fields)) == {"ending_at": ["invalid_date"]}
    assert subscribed(api, "sub-1", "basic", ending_at="2024-03-16T00:00:00Z")["ending_at"] == "2024-03-16T00:00:00Z"


def test_unknown_plan_is_404_and_writes_nothing(api: httpx.Client, at: Clock, unchanged: Any) -> None:
    create_plan(api, "basic")
    with unchanged():
        not_found(subscribe(api, "sub-1", "nope", customer="ghost"), "plan")
    not_found(api.get("customers/ghost"), "customer")
    api.delete("plans/basic")
    not_found(subscribe(api, "sub-1", "basic"), "plan")  # deleted plans cannot be subscribed to


def test_external_id_active_on_another_customer(api: httpx.Client, at: Clock, unchanged: Any) -> None:
    create_plan(api, "basic")
    subscribed(api, "sub-1", "basic", customer="alice")
    with unchanged():
        assert error_details(subscribe(api, "sub-1", "basic", customer="bob")) == {"external_id": ["value_already_exist"]}
    # Also while it waits for its start date (two live rows would collide when it starts).
    subscribed(api, "sub-2", "basic", customer="alice", subscription_at="2024-06-01T00:00:00Z")
    assert error_details(subscribe(api, "sub-2", "basic", customer="bob")) == {"external_id": ["value_already_exist"]}
    # Once terminated, the external id is free again.
    assert api.delete("subscriptions/sub-1").status_code == 200
    assert subscribed(api, "sub-1", "basic", customer="bob")["external_customer_id"] == "bob"


def test_customer_currency_must_match_once_billed(
    api: httpx.Client, database: Database, org: Any, at: Clock, unchanged: Any
) -> None:
    create_plan(api, "basic")
    create_plan(api, "dollars", amount_currency="USD")
    api.post("customers", json={"customer": {"external_id": "acme", "currency": "USD"}})
    # A customer never billed takes the plan's currency.
    subscribed(api, "sub-1", "basic", customer="acme")
    assert api.get("customers/acme").json()["customer"]["currency"] == "EUR"
    with unchanged():
        assert error_details(subscribe(api, "sub-2", "dollars", customer="acme")) == {
            "currency": ["currencies_does_not_match"]
        }
    with database.unit_of_work(write=False) as session:
        stmt = select(Customer.currency).where(Customer.organization_id == org.id, Customer.external_id == "acme")
        assert session.scalar(stmt) == "EUR"


def test_other_organization_cannot_see_or_touch(api: httpx.Client, server: Any, database: Database, at: Clock) -> None:
    create_plan(api, "basic")
    subscribed(api, "sub-1", "basic")
    other = make_org(database, "Other org")
    with client_for(server, other.api_key) as foreign:
        not_found(foreign.get("subscriptions/sub-1"))
        not_found(foreign.put("subscriptions/sub-1", json={"subscription": {"name": "x"}}))
        not_found(foreign.delete("subscriptions/sub-1"))
        assert foreign.get("subscriptions").json()["subscriptions"] == []
        not_found(subscribe(foreign, "sub-1", "basic"), "plan")  # plans are per organization too
        create_plan(foreign, "basic")
        assert subscribed(foreign, "sub-1", "basic")["status"] == "active"  # external ids are per organization
    assert api.get("subscriptions/sub-1").json()["subscription"]["external_customer_id"] == "cust"


def test_organization_timezone_applies_when_the_customer_has_none(
    api: httpx.Client, database: Database, org: Any, at: Clock
) -> None:
    from billow.models import Organization

    with database.unit_of_work() as session:
        session.execute(update(Organization).where(Organization.id == org.id).values(timezone="Asia/Tokyo"))
    create_plan(api, "basic")
    body = subscribed(api, "sub-1", "basic", subscription_at="2024-01-01T00:00:00Z")
    assert (body["current_billing_period_started_at"], body["current_billing_period_ending_at"]) == (
        "2024-02-29T15:00:00Z", "2024-03-31T14:59:59Z"
    )
