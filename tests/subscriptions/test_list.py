"""`GET /subscriptions`: filters, default status, order and Lago's meta."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.subscriptions.conftest import (
    START,
    Clock,
    create_plan,
    error_details,
    subscribed,
)

EMPTY_META = {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0}


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["external_id"] for row in response.json()["subscriptions"]]


def test_list_filters_and_order(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic")
    create_plan(api, "dollars", amount_currency="USD")
    subscribed(api, "a1", "basic", customer="alice")
    at(START + timedelta(minutes=1))
    subscribed(api, "b1", "dollars", customer="bob")
    at(START + timedelta(minutes=2))
    subscribed(api, "a2", "basic", customer="alice", subscription_at="2024-05-01T00:00:00Z")
    at(START + timedelta(minutes=3))
    subscribed(api, "a3", "basic", customer="alice")
    api.delete("subscriptions/a3")

    assert ids(api.get("subscriptions")) == ["b1", "a1"]  # active only, newest first
    assert ids(api.get("subscriptions", params={"status[]": ["pending", "terminated"]})) == ["a3", "a2"]
    assert ids(api.get("subscriptions", params={"status[]": "pending"})) == ["a2"]
    everything = {"status[]": ["active", "pending", "terminated", "canceled"]}
    assert ids(api.get("subscriptions", params={**everything, "external_customer_id": "alice"})) == ["a3", "a2", "a1"]
    assert ids(api.get("subscriptions", params={**everything, "plan_code": "dollars"})) == ["b1"]
    assert ids(api.get("subscriptions", params={**everything, "currency": "EUR"})) == ["a3", "a2", "a1"]
    assert ids(api.get("subscriptions", params={**everything, "external_id": "a2"})) == ["a2"]
    assert ids(api.get("subscriptions", params={"external_customer_id": "nobody"})) == []

    rows = api.get("subscriptions").json()["subscriptions"]
    assert "plan" not in rows[0]  # list rows are the plain Subscription object, as Lago
    assert rows[0]["plan_code"] == "dollars" and rows[0]["external_customer_id"] == "bob"


def test_list_meta_and_paging(api: httpx.Client, at: Clock) -> None:
    body = api.get("subscriptions").json()
    assert body == {"subscriptions": [], "meta": EMPTY_META}
    create_plan(api, "basic")
    for minute, external_id in enumerate(("s1", "s2", "s3")):
        at(START + timedelta(minutes=minute))
        subscribed(api, external_id, "basic")
    page = api.get("subscriptions", params={"per_page": 2, "page": 2}).json()
    assert [row["external_id"] for row in page["subscriptions"]] == ["s1"]
    assert page["meta"] == {"current_page": 2, "next_page": None, "prev_page": 1, "total_pages": 2, "total_count": 3}
    assert api.get("subscriptions", params={"status[]": "canceled"}).json()["meta"] == EMPTY_META


def test_list_rejects_unknown_statuses(api: httpx.Client) -> None:
    assert error_details(api.get("subscriptions", params={"status[]": ["active", "paused"]})) == {"status": ["value_is_invalid"]}
