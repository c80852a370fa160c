"""What the billing run applies before billing: a future start, a scheduled downgrade, ``ending_at``."""

from __future__ import annotations

import httpx

from billow.core.db import Database
from tests.conftest import Org
from tests.scenarios.conftest import (
    Clock,
    bill,
    customer,
    fee_amounts,
    invoices,
    listen,
    ok,
    period,
    plan,
    utc,
)


def _subscribe(api: httpx.Client, plan_code: str, start: str, **fields: object) -> dict[str, object]:
    body = {"external_customer_id": "cus", "plan_code": plan_code, "external_id": "sub", "subscription_at": start,
            **fields}
    return ok(api.post("subscriptions", json={"subscription": body}))["subscription"]  # type: ignore[no-any-return]


def test_a_subscription_for_a_future_date_starts_on_it(api: httpx.Client, at: Clock, database: Database,
                                                       org: Org) -> None:
    listen(api)
    plan(api, "p", 3100)
    customer(api, "cus")
    at(utc(2024, 3, 10))
    assert _subscribe(api, "p", "2024-03-20T00:00:00Z")["status"] == "pending"
    assert bill(database, org, utc(2024, 3, 19, 23)).changed == []
    report = bill(database, org, utc(2024, 3, 20, 0, 0, 1))
    assert [change for _, change in report.changed] == ["started"]
    at(utc(2024, 3, 21))
    assert ok(api.get("subscriptions/sub"))["subscription"]["started_at"] == "2024-03-20T00:00:00.000Z"
    bill(database, org, utc(2024, 4, 1))
    [invoice] = invoices(api)
    # Mar 20-31: 12 of 31 days x 3100 = 1200.
    assert fee_amounts(invoice) == [("subscription", "p", 1200)]


def test_a_scheduled_downgrade_switches_plans_when_the_period_ends(api: httpx.Client, at: Clock,
                                                                    database: Database, org: Org) -> None:
    plan(api, "big", 5000)
    plan(api, "small", 3000)
    customer(api, "cus")
    at(utc(2024, 3, 1))
    _subscribe(api, "big", "2024-03-01T00:00:00Z")
    at(utc(2024, 3, 10))
    assert _subscribe(api, "small", "2024-03-01T00:00:00Z")["downgrade_plan_date"] == "2024-04-01"
    report = bill(database, org, utc(2024, 4, 1, 0, 0, 1))
    assert [change for _, change in report.changed] == ["downgraded"]
    assert [(b.reason, b.total_amount_cents) for b in report.billed] == [("subscription_periodic", 5000)]
    bill(database, org, utc(2024, 5, 1))
    march, april = invoices(api)
    assert fee_amounts(march) == [("subscription", "big", 5000)]
    # The new plan's first period, April 1-30 (30 of 30 days): 3000.
    assert fee_amounts(april) == [("subscription", "small", 3000)]
    assert period(april)[:2] == ("2024-04-01T00:00:00Z", "2024-04-30T23:59:59Z")


def test_ending_at_terminates_and_bills_the_final_invoice(api: httpx.Client, at: Clock, database: Database,
                                                          org: Org) -> None:
    plan(api, "p", 3100)
    customer(api, "cus")
    at(utc(2024, 3, 1))
    _subscribe(api, "p", "2024-03-01T00:00:00Z", ending_at="2024-03-20T12:00:00Z")
    report = bill(database, org, utc(2024, 3, 21))
    assert [change for _, change in report.changed] == ["terminated"]
    [final] = invoices(api)
    assert final["billing_periods"][0]["invoicing_reason"] == "subscription_terminating"
    # Mar 1-20: 20 of 31 days x 3100 = 2000.
    assert fee_amounts(final) == [("subscription", "p", 2000)]
    assert period(final)[1] == "2024-03-20T12:00:00Z"
