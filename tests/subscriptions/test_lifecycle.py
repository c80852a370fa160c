"""Editing, terminating and canceling subscriptions; customer deletion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.subscriptions.conftest import (
    START,
    Clock,
    create_plan,
    error_details,
    not_found,
    subscribed,
)


def put(api: httpx.Client, external_id: str, params: dict[str, Any] | None = None, **fields: Any) -> httpx.Response:
    return api.put(f"subscriptions/{external_id}", params=params, json={"subscription": fields})


def test_update_changes_only_the_keys_sent(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic")
    subscribed(api, "sub-1", "basic", name="Main", ending_at="2024-12-31T00:00:00Z")
    body = put(api, "sub-1", on_termination_invoice="skip").json()["subscription"]
    assert (body["name"], body["ending_at"], body["on_termination_invoice"]) == ("Main", "2024-12-31T00:00:00Z", "skip")
    body = put(api, "sub-1", name="Renamed", ending_at="2025-06-30T12:00:00Z").json()["subscription"]
    assert (body["name"], body["ending_at"]) == ("Renamed", "2025-06-30T12:00:00Z")
    # An explicit null clears the end date and the name.
    body = put(api, "sub-1", ending_at=None, name=None).json()["subscription"]
    assert (body["name"], body["ending_at"]) == (None, None)
    # subscription_at only moves subscriptions that have not started.
    body = put(api, "sub-1", subscription_at="2024-01-01T00:00:00Z").json()["subscription"]
    assert body["subscription_at"] == "2024-03-15T10:30:00Z"


def test_update_refusals(api: httpx.Client, at: Clock, unchanged: Any) -> None:
    create_plan(api, "basic")
    subscribed(api, "sub-1", "basic")
    with unchanged():
        assert error_details(put(api, "sub-1", ending_at="2024-03-15T20:00:00Z")) == {"ending_at": ["invalid_date"]}
        assert error_details(put(api, "sub-1", ending_at="soon")) == {"ending_at": ["invalid_date"]}
        assert error_details(put(api, "sub-1", on_termination_invoice="later")) == {
            "on_termination_invoice": ["invalid_value"]
        }
        assert error_details(put(api, "sub-1", on_termination_credit_note="cash")) == {
            "on_termination_credit_note": ["invalid_value"]
        }
        assert error_details(put(api, "sub-1", plan_overrides={"amount_currency": "EURO"})) == {
            "amount_currency": ["value_is_invalid"]
        }
        not_found(put(api, "unknown", name="x"))
        assert api.put("subscriptions/sub-1", json={"name": "no root"}).status_code == 400


def test_credit_note_choice_is_kept_for_pay_in_advance_plans_only(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "arrears")
    create_plan(api, "advance", pay_in_advance=True)
    subscribed(api, "a", "arrears")
    subscribed(api, "b", "advance")
    assert put(api, "a", on_termination_credit_note="refund").json()["subscription"]["on_termination_credit_note"] is None
    assert put(api, "b", on_termination_credit_note="refund").json()["subscription"]["on_termination_credit_note"] == "refund"
    assert put(api, "b", on_termination_credit_note="offset").json()["subscription"]["on_termination_credit_note"] == "offset"


def test_pending_subscription_starts_when_its_date_moves_to_the_past(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic")
    pending = subscribed(api, "sub-1", "basic", subscription_at="2024-06-01T00:00:00Z")
    # A single row with this external id is updated whatever its status.
    body = put(api, "sub-1", subscription_at="2024-07-01T00:00:00Z").json()["subscription"]
    assert (body["status"], body["subscription_at"], body["started_at"]) == ("pending", "2024-07-01T00:00:00Z", None)
    body = put(api, "sub-1", subscription_at="2024-03-10T08:00:00Z").json()["subscription"]
    assert (body["lago_id"], body["status"], body["started_at"]) == (pending["lago_id"], "active", "2024-03-10T08:00:00.000Z")
    assert body["current_billing_period_started_at"] == "2024-03-10T08:00:00Z"
    assert api.get("subscriptions/sub-1").json()["subscription"]["lago_id"] == pending["lago_id"]


def test_status_picks_the_row_to_update_when_several_share_the_external_id(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "premium", 2000)
    create_plan(api, "basic", 1000)
    active = subscribed(api, "sub-1", "premium")
    subscribed(api, "sub-1", "basic")  # downgrade: a pending row with the same external id
    assert put(api, "sub-1", name="A").json()["subscription"]["lago_id"] == active["lago_id"]
    pending = put(api, "sub-1", {"status": "pending"}, name="P").json()["subscription"]
    assert (pending["status"], pending["name"]) == ("pending", "P")
    # `status` may also be sent next to the `subscription` object.
    response = api.put("subscriptions/sub-1", json={"status": "pending", "subscription": {"name": "Q"}})
    assert response.json()["subscription"]["lago_id"] == pending["lago_id"]


def test_terminate_the_active_subscription(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "advance", pay_in_advance=True)
    subscribed(api, "sub-1", "advance")
    at(START + timedelta(hours=2))
    response = api.delete("subscriptions/sub-1", params={"on_termination_credit_note": "skip", "on_termination_invoice": "skip"})
    body = response.json()["subscription"]
    assert (body["status"], body["terminated_at"], body["on_termination_credit_note"], body["on_termination_invoice"]) == (
        "terminated", "2024-03-15T12:30:00Z", "skip", "skip"
    )
    assert body["current_billing_period_ending_at"] == "2024-03-15T12:30:00Z"
    not_found(api.delete("subscriptions/sub-1"))  # nothing active any more
    not_found(api.get("subscriptions/sub-1"))
    assert api.get("subscriptions/sub-1", params={"status": "terminated"}).json()["subscription"]["lago_id"] == body["lago_id"]


def test_terminate_refusals(api: httpx.Client, at: Clock, unchanged: Any) -> None:
    create_plan(api, "basic")
    subscribed(api, "sub-1", "basic")
    subscribed(api, "sub-2", "basic", subscription_at="2024-04-01T00:00:00Z")
    with unchanged():
        assert error_details(api.delete("subscriptions/sub-1", params={"on_termination_credit_note": "cash"})) == {
            "on_termination_credit_note": ["invalid_value"]
        }
        assert error_details(api.delete("subscriptions/sub-1", params={"on_termination_invoice": "maybe"})) == {
            "on_termination_invoice": ["invalid_value"]
        }
        not_found(api.delete("subscriptions/sub-2"))  # pending ones need status=pending
        not_found(api.delete("subscriptions/sub-1", params={"status": "pending"}))
        not_found(api.delete("subscriptions/unknown"))


def test_cancel_a_pending_subscription(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic")
    subscribed(api, "sub-1", "basic", subscription_at="2024-04-01T00:00:00Z")
    body = api.delete("subscriptions/sub-1", params={"status": "pending"}).json()["subscription"]
    assert (body["status"], body["canceled_at"], body["terminated_at"], body["started_at"]) == (
        "canceled", "2024-03-15T10:30:00Z", None, None
    )
    not_found(api.delete("subscriptions/sub-1", params={"status": "pending"}))


def test_get_by_status(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic")
    first = subscribed(api, "sub-1", "basic")
    api.delete("subscriptions/sub-1")
    at(START + timedelta(days=1))
    second = subscribed(api, "sub-1", "basic")
    api.delete("subscriptions/sub-1")
    # Several terminated rows: the newest one.
    assert api.get("subscriptions/sub-1", params={"status": "terminated"}).json()["subscription"]["lago_id"] == second["lago_id"]
    assert second["lago_id"] != first["lago_id"]
    not_found(api.get("subscriptions/sub-1", params={"status": "sleeping"}))


def test_deleting_the_customer_ends_its_subscriptions(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "premium", 2000)
    create_plan(api, "basic", 1000)
    subscribed(api, "active", "premium", customer="acme")
    subscribed(api, "active", "basic", customer="acme")  # a scheduled downgrade
    subscribed(api, "future", "basic", customer="acme", subscription_at="2024-05-01T00:00:00Z")
    kept = subscribed(api, "other", "basic", customer="someone-else")
    at(START + timedelta(hours=1))
    assert api.delete("customers/acme").status_code == 200

    statuses = api.get("subscriptions", params={"status[]": ["active", "pending", "terminated", "canceled"]}).json()
    assert sorted((row["external_id"], row["plan_code"], row["status"]) for row in statuses["subscriptions"]) == [
        ("active", "basic", "canceled"),
        ("active", "premium", "terminated"),
        ("future", "basic", "canceled"),
        ("other", "basic", "active"),
    ]
    terminated = api.get("subscriptions/active", params={"status": "terminated"}).json()["subscription"]
    assert terminated["terminated_at"] == "2024-03-15T11:30:00Z"
    assert api.get("subscriptions/other").json()["subscription"]["lago_id"] == kept["lago_id"]
