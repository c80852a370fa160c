"""Plan changes through `POST /subscriptions` with a known external id, and `resolve()` over time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from billow.core.db import Database
from billow.subscriptions import repository
from tests.subscriptions.conftest import START, Clock, create_plan, subscribed, utc

LATER = START + timedelta(days=5)  # 20 March 10:30


def find(api: httpx.Client, external_id: str, status: str = "active") -> dict[str, Any]:
    response = api.get(f"subscriptions/{external_id}", params={"status": status})
    assert response.status_code == 200, response.text
    return response.json()["subscription"]  # type: ignore[no-any-return]


def test_same_plan_returns_the_subscription_unchanged(api: httpx.Client, at: Clock, unchanged: Any) -> None:
    create_plan(api, "basic")
    first = subscribed(api, "sub-1", "basic", name="First")
    at(LATER)
    with unchanged():
        again = subscribed(api, "sub-1", "basic", name="Other", billing_time="anniversary")
    assert again == first


def test_upgrade_terminates_now_and_starts_the_new_plan(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic", 1000)
    create_plan(api, "premium", 2000)
    old = subscribed(api, "sub-1", "basic", billing_time="anniversary", ending_at="2025-01-01T00:00:00Z")
    at(LATER)
    new = subscribed(api, "sub-1", "premium", name="Upgraded")

    assert new["lago_id"] != old["lago_id"]
    assert (new["status"], new["plan_code"], new["previous_plan_code"], new["next_plan_code"]) == (
        "active", "premium", "basic", None
    )
    # It keeps the anniversary, billing time and end date of the subscription it replaces.
    assert (new["subscription_at"], new["started_at"], new["billing_time"], new["ending_at"], new["name"]) == (
        "2024-03-15T10:30:00Z", "2024-03-20T10:30:00.000Z", "anniversary", "2025-01-01T00:00:00Z", "Upgraded"
    )
    assert (new["current_billing_period_started_at"], new["current_billing_period_ending_at"]) == (
        "2024-03-20T10:30:00Z", "2024-04-14T23:59:59Z"
    )
    terminated = find(api, "sub-1", "terminated")
    assert (terminated["lago_id"], terminated["terminated_at"], terminated["next_plan_code"]) == (
        old["lago_id"], "2024-03-20T10:30:00Z", "premium"
    )
    assert terminated["downgrade_plan_date"] is None
    assert find(api, "sub-1")["lago_id"] == new["lago_id"]


def test_plans_compare_by_yearly_price(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "monthly", 1000)  # 120.00 a year
    create_plan(api, "yearly", 11000, interval="yearly")  # 110.00 a year: cheaper, so a downgrade
    create_plan(api, "weekly", 250, interval="weekly")  # 130.00 a year: dearer, so an upgrade
    subscribed(api, "down", "monthly")
    subscribed(api, "up", "monthly")
    at(LATER)
    assert subscribed(api, "down", "yearly")["plan_code"] == "monthly"  # downgrades answer the current one
    assert subscribed(api, "up", "weekly")["plan_code"] == "weekly"


def test_downgrade_waits_for_the_end_of_the_period(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "premium", 2000)
    create_plan(api, "basic", 1000)
    current = subscribed(api, "sub-1", "premium")
    at(LATER)
    answer = subscribed(api, "sub-1", "basic", name="Cheaper")

    assert answer["lago_id"] == current["lago_id"]
    assert (answer["status"], answer["next_plan_code"], answer["downgrade_plan_date"]) == ("active", "basic", "2024-04-01")
    pending = find(api, "sub-1", "pending")
    assert (pending["plan_code"], pending["previous_plan_code"], pending["started_at"], pending["name"]) == (
        "basic", "premium", None, "Cheaper"
    )
    assert pending["subscription_at"] == current["subscription_at"]


def test_anniversary_downgrade_date_is_the_next_period_start(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "premium", 2000)
    create_plan(api, "basic", 1000)
    subscribed(api, "sub-1", "premium", billing_time="anniversary", subscription_at="2024-01-31T12:00:00Z")
    # Periods of a 31st anniversary in 2024: ..., Feb 29 - Mar 30, Mar 31 - Apr 29.
    assert subscribed(api, "sub-1", "basic")["downgrade_plan_date"] == "2024-03-31"


def test_downgrade_date_follows_the_customer_timezone(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "premium", 2000)
    create_plan(api, "basic", 1000)
    api.post("customers", json={"customer": {"external_id": "jp", "timezone": "Asia/Tokyo"}})
    subscribed(api, "sub-1", "premium", customer="jp")
    at(utc(2024, 3, 31, 16))  # already 1 April in Tokyo
    assert subscribed(api, "sub-1", "basic", customer="jp")["downgrade_plan_date"] == "2024-05-01"


def test_a_second_downgrade_replaces_the_first(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "premium", 3000)
    create_plan(api, "standard", 2000)
    create_plan(api, "basic", 1000)
    subscribed(api, "sub-1", "premium")
    first = subscribed(api, "sub-1", "standard")
    assert first["next_plan_code"] == "standard"
    at(LATER)
    second = subscribed(api, "sub-1", "basic")
    assert second["next_plan_code"] == "basic"
    canceled = find(api, "sub-1", "canceled")
    assert (canceled["plan_code"], canceled["canceled_at"]) == ("standard", "2024-03-20T10:30:00Z")
    assert find(api, "sub-1", "pending")["plan_code"] == "basic"


def test_upgrade_cancels_a_scheduled_downgrade(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "premium", 3000)
    create_plan(api, "basic", 1000)
    create_plan(api, "gold", 5000)
    subscribed(api, "sub-1", "premium")
    subscribed(api, "sub-1", "basic")
    at(LATER)
    upgraded = subscribed(api, "sub-1", "gold")
    assert upgraded["previous_plan_code"] == "premium"
    assert find(api, "sub-1", "canceled")["plan_code"] == "basic"
    assert find(api, "sub-1", "terminated")["next_plan_code"] == "gold"
    assert api.get("subscriptions/sub-1", params={"status": "pending"}).status_code == 404


def test_plan_change_of_a_subscription_not_started_replaces_its_plan(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic", 1000)
    create_plan(api, "premium", 2000)
    pending = subscribed(api, "sub-1", "basic", subscription_at="2024-05-01T00:00:00Z")
    changed = subscribed(api, "sub-1", "premium", name="Later")
    assert (changed["lago_id"], changed["status"], changed["plan_code"], changed["name"]) == (
        pending["lago_id"], "pending", "premium", "Later"
    )
    assert changed["plan_amount_cents"] == 2000
    listed = api.get("subscriptions", params={"status[]": ["pending", "canceled", "terminated"]}).json()
    assert [row["lago_id"] for row in listed["subscriptions"]] == [pending["lago_id"]]


def test_terminating_a_downgraded_subscription_cancels_the_downgrade(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "premium", 2000)
    create_plan(api, "basic", 1000)
    subscribed(api, "sub-1", "premium")
    subscribed(api, "sub-1", "basic")
    terminated = api.delete("subscriptions/sub-1").json()["subscription"]
    assert (terminated["status"], terminated["next_plan_code"], terminated["downgrade_plan_date"]) == (
        "terminated", None, None
    )
    assert find(api, "sub-1", "canceled")["plan_code"] == "basic"


def test_resolve_picks_the_row_live_at_an_instant(api: httpx.Client, database: Database, org: Any, at: Clock) -> None:
    create_plan(api, "basic", 1000)
    create_plan(api, "premium", 2000)
    old = subscribed(api, "sub-1", "basic")
    at(LATER)
    new = subscribed(api, "sub-1", "premium")
    ended = LATER + timedelta(days=3)
    at(ended)
    api.delete("subscriptions/sub-1")
    at(ended + timedelta(days=1))
    again = subscribed(api, "sub-1", "basic")  # a new subscription with the same external id

    second = timedelta(seconds=1)
    expected = {
        START - second: None,
        START: old["lago_id"],
        LATER - second: old["lago_id"],
        LATER: new["lago_id"],  # at the upgrade instant the new plan carries the events
        ended: new["lago_id"],
        ended + second: None,
        ended + timedelta(days=1): again["lago_id"],
        utc(2030, 1, 1): again["lago_id"],
    }
    with database.unit_of_work(write=False) as session:
        found = {instant: repository.resolve(session, org.id, "sub-1", instant) for instant in expected}
        assert {instant: str(row.id) if row else None for instant, row in found.items()} == expected
        assert repository.resolve(session, org.id, "unknown", LATER) is None


def test_a_plan_change_does_not_restart_the_trial(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "basic", 1000, trial_period=10)
    create_plan(api, "premium", 2000, trial_period=10)
    subscribed(api, "sub-1", "basic")
    at(LATER)
    assert subscribed(api, "sub-1", "premium")["trial_ended_at"] is None
    at(START + timedelta(days=10))  # ten days after the first start, not after the upgrade
    assert find(api, "sub-1")["trial_ended_at"] == "2024-03-25T10:30:00Z"
