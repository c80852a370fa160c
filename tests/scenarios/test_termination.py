"""Terminated subscriptions: the final invoice, and periods left unbilled before the termination."""

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
    metric,
    ok,
    period,
    plan,
    send,
    subscribe,
    utc,
)


def _story(api: httpx.Client, at: Clock, start: tuple[int, ...], **plan_fields: object) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "p", 3100, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                   "properties": {"amount": "1"}}], **plan_fields)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "p", utc(*start))


def test_final_invoice_of_an_arrears_plan(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _story(api, at, (2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 3))
    send(api, "sub", "calls", utc(2024, 3, 10))
    at(utc(2024, 3, 15, 12))
    ok(api.delete("subscriptions/sub"))
    report = bill(database, org, utc(2024, 3, 15, 13))
    assert [b.reason for b in report.billed] == ["subscription_terminating"]
    [final] = invoices(api)
    # Mar 1 to Mar 15 (termination day included): 15 of 31 days x 3100 = 1500; 2 events x 1.00.
    assert fee_amounts(final) == [("subscription", "p", 1500), ("charge", "calls", 200)]
    assert final["issuing_date"] == "2024-03-15"
    assert period(final) == ("2024-03-01T00:00:00Z", "2024-03-15T12:00:00Z",
                             "2024-03-01T00:00:00Z", "2024-03-15T12:00:00Z")
    assert bill(database, org, utc(2024, 5, 1)).billed == []  # nothing after the termination


def test_periods_a_terminated_subscription_left_unbilled_are_billed(api: httpx.Client, at: Clock,
                                                                    database: Database, org: Org) -> None:
    _story(api, at, (2024, 1, 1))
    send(api, "sub", "calls", utc(2024, 1, 20))
    send(api, "sub", "calls", utc(2024, 2, 5))
    at(utc(2024, 2, 10, 12))
    ok(api.delete("subscriptions/sub"))
    report = bill(database, org, utc(2024, 2, 11))
    assert [b.reason for b in report.billed] == ["subscription_periodic", "subscription_terminating"]
    january, final = invoices(api)
    assert fee_amounts(january) == [("subscription", "p", 3100), ("charge", "calls", 100)]
    # Feb 1 to Feb 10 of a 29-day February: 10 x 3100 / 29 = 1068.97 -> 1069; one event.
    assert fee_amounts(final) == [("subscription", "p", 1069), ("charge", "calls", 100)]


def test_pay_in_advance_plan_final_invoice_bills_usage_only(api: httpx.Client, at: Clock, database: Database,
                                                           org: Org) -> None:
    _story(api, at, (2024, 3, 1), pay_in_advance=True)
    send(api, "sub", "calls", utc(2024, 3, 2))
    at(utc(2024, 3, 20))
    ok(api.delete("subscriptions/sub", params={"on_termination_credit_note": "skip"}))
    bill(database, org, utc(2024, 3, 21))
    starting, final = invoices(api)
    assert fee_amounts(starting) == [("subscription", "p", 3100)]  # March 1st: the whole month, in advance
    assert fee_amounts(final) == [("charge", "calls", 100)]


def test_termination_without_final_invoice(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _story(api, at, (2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 3))
    at(utc(2024, 3, 15, 12))
    ok(api.delete("subscriptions/sub", params={"on_termination_invoice": "skip"}))
    assert bill(database, org, utc(2024, 4, 1)).billed == []
