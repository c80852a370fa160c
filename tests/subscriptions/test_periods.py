"""Current billing period on the wire, and the periods module other code calls."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from billow.core.db import Database
from billow.models import Subscription
from billow.pricing.periods import BillingTime, Interval
from billow.subscriptions import periods
from tests.subscriptions.conftest import START, Clock, create_plan, subscribed, utc


def period(body: dict[str, Any]) -> tuple[str, str]:
    return body["current_billing_period_started_at"], body["current_billing_period_ending_at"]


@pytest.mark.parametrize(
    ("interval", "billing_time", "subscription_at", "expected"),
    [
        # Calendar month; back-dated so the window is the whole month.
        ("monthly", "calendar", "2024-02-10T00:00:00Z", ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z")),
        # Anniversary on the 31st in a leap year: Jan 31-Feb 28, Feb 29-Mar 30, Mar 31-Apr 29.
        ("monthly", "anniversary", "2024-01-31T09:00:00Z", ("2024-02-29T00:00:00Z", "2024-03-30T23:59:59Z")),
        # ISO weeks: Friday 15 March lies in Monday 11 - Sunday 17.
        ("weekly", "calendar", "2024-02-01T00:00:00Z", ("2024-03-11T00:00:00Z", "2024-03-17T23:59:59Z")),
        # Anniversary weeks start on the subscription's weekday (a Wednesday).
        ("weekly", "anniversary", "2024-03-06T12:00:00Z", ("2024-03-13T00:00:00Z", "2024-03-19T23:59:59Z")),
        ("yearly", "calendar", "2023-06-01T00:00:00Z", ("2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z")),
        ("yearly", "anniversary", "2023-06-20T00:00:00Z", ("2023-06-20T00:00:00Z", "2024-06-19T23:59:59Z")),
        ("quarterly", "calendar", "2023-06-01T00:00:00Z", ("2024-01-01T00:00:00Z", "2024-03-31T23:59:59Z")),
    ],
)
def test_current_period_on_the_wire(
    api: httpx.Client, at: Clock, interval: str, billing_time: str, subscription_at: str, expected: tuple[str, str]
) -> None:
    create_plan(api, "plan", interval=interval)
    body = subscribed(api, "sub-1", "plan", billing_time=billing_time, subscription_at=subscription_at)
    assert period(body) == expected


def test_anniversary_on_january_31_rolls_through_short_months(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "plan")
    at(utc(2023, 1, 31, 9))
    subscribed(api, "sub-1", "plan", billing_time="anniversary")
    seen = []
    for instant in (utc(2023, 2, 27, 23), utc(2023, 2, 28, 1), utc(2023, 3, 31), utc(2023, 4, 30), utc(2023, 5, 30, 12)):
        at(instant)
        seen.append(period(api.get("subscriptions/sub-1").json()["subscription"]))
    assert seen == [
        ("2023-01-31T09:00:00Z", "2023-02-27T23:59:59Z"),  # the first window starts at the start instant
        ("2023-02-28T00:00:00Z", "2023-03-30T23:59:59Z"),
        ("2023-03-31T00:00:00Z", "2023-04-29T23:59:59Z"),
        ("2023-04-30T00:00:00Z", "2023-05-30T23:59:59Z"),
        ("2023-04-30T00:00:00Z", "2023-05-30T23:59:59Z"),
    ]


def test_yearly_plan_billing_charges_monthly_shows_the_monthly_window(
    api: httpx.Client, database: Database, org: Any, at: Clock
) -> None:
    create_plan(api, "yearly", interval="yearly", amount_cents=12000, bill_charges_monthly=True)
    body = subscribed(api, "sub-1", "yearly", subscription_at="2024-01-10T00:00:00Z")
    # As Lago, the wire shows the current charges window.
    assert period(body) == ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z")
    with database.unit_of_work(write=False) as session:
        subscription = session.scalar(select(Subscription).where(Subscription.organization_id == org.id))
        assert subscription is not None
        plan, customer = subscription.plan, subscription.customer
        cycle = periods.cycle_for(subscription, plan, customer)
        assert (cycle.interval, cycle.billing_time, cycle.anchor, cycle.timezone) == (
            Interval.YEARLY, BillingTime.CALENDAR, utc(2024, 1, 10).date(), "UTC"
        )
        # The plan period is the year; the charges window is the month.
        assert periods.current_billing_period(subscription, plan, customer, START) == (
            utc(2024, 1, 1), utc(2024, 12, 31, 23, 59, 59)
        )
        window = periods.current_window(subscription, plan, customer, START)
        assert (window.charges_from_datetime, window.charges_to_datetime) == (utc(2024, 3, 1), utc(2024, 3, 31, 23, 59, 59))
        assert window.charges_duration_days == 31
        first = periods.current_window(subscription, plan, customer, utc(2020, 1, 1))  # before the start: first window
        assert (first.charges_from_datetime, first.from_datetime) == (utc(2024, 1, 10), utc(2024, 1, 10))


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        # EST until 10 March, EDT after: local midnight 1 March is 05:00Z, end of 31 March is 03:59:59Z.
        ("America/New_York", ("2024-03-01T05:00:00Z", "2024-04-01T03:59:59Z")),
        ("Asia/Tokyo", ("2024-02-29T15:00:00Z", "2024-03-31T14:59:59Z")),
    ],
)
def test_customer_timezone_sets_the_boundaries(api: httpx.Client, at: Clock, timezone: str, expected: tuple[str, str]) -> None:
    api.post("customers", json={"customer": {"external_id": "tz", "timezone": timezone}})
    create_plan(api, "plan")
    body = subscribed(api, "sub-1", "plan", customer="tz", subscription_at="2024-01-01T00:00:00Z")
    assert period(body) == expected


def test_timezone_decides_the_local_start_day(api: httpx.Client, at: Clock) -> None:
    at(utc(2024, 3, 31, 20))  # 1 April 05:00 in Tokyo, 31 March 16:00 in New York
    api.post("customers", json={"customer": {"external_id": "jp", "timezone": "Asia/Tokyo"}})
    api.post("customers", json={"customer": {"external_id": "us", "timezone": "America/New_York"}})
    create_plan(api, "plan", interval="weekly")
    tokyo = subscribed(api, "jp-1", "plan", customer="jp", billing_time="anniversary")
    new_york = subscribed(api, "us-1", "plan", customer="us", billing_time="anniversary")
    # Anniversary weeks from the local start day: Monday 1 April in Tokyo, Sunday 31 March in New York.
    assert period(tokyo) == ("2024-03-31T20:00:00Z", "2024-04-07T14:59:59Z")
    assert period(new_york) == ("2024-03-31T20:00:00Z", "2024-04-07T03:59:59Z")


def test_terminated_subscription_shows_its_last_window(api: httpx.Client, at: Clock) -> None:
    create_plan(api, "plan")
    subscribed(api, "sub-1", "plan", subscription_at="2024-02-10T00:00:00Z")
    at(START + timedelta(days=1))
    api.delete("subscriptions/sub-1")
    at(utc(2024, 6, 1))
    body = api.get("subscriptions/sub-1", params={"status": "terminated"}).json()["subscription"]
    assert period(body) == ("2024-03-01T00:00:00Z", "2024-03-16T10:30:00Z")
