"""A free trial that crosses a month boundary, in arrears and paid in advance.

The trial ends ``trial_period`` days after the start (lago-semantics.md 5.2): days inside it are
free, the fee of the period it ends in counts its days from the trial's end (inclusive day count
in the customer's timezone); usage is billed as usual, trial or not.
"""

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
    period,
    plan,
    send,
    subscribe,
    utc,
)


def test_a_trial_from_march_into_april_in_arrears(api: httpx.Client, at: Clock, database: Database,
                                                  org: Org) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "trial", 3000, trial_period=10, charges=[{"billable_metric_id": calls, "charge_model": "standard",
                                                        "properties": {"amount": "1"}}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "trial", utc(2024, 3, 25, 10))  # trial until Apr 4 10:00
    send(api, "sub", "calls", utc(2024, 3, 28))
    send(api, "sub", "calls", utc(2024, 3, 29))
    send(api, "sub", "calls", utc(2024, 4, 2))
    bill(database, org, utc(2024, 5, 1))
    march, april = invoices(api)
    # March 25-31 is all trial and the invoice of April 1st is issued during it: no subscription
    # fee (Lago bills none while the trial runs); the 2 events of the trial are billed, 2 x 1.00.
    assert fee_amounts(march) == [("charge", "calls", 200)]
    assert period(march) == ("2024-03-25T00:00:00Z", "2024-03-31T23:59:59Z",
                             "2024-03-25T10:00:00Z", "2024-03-31T23:59:59Z")
    # April: from the trial's end, Apr 4 10:00, to Apr 30 23:59:59 = 26.6 days -> 27 days (Apr 4-30)
    # x 3000 / 30 = 2700; one event, 1.00.
    assert fee_amounts(april) == [("subscription", "trial", 2700), ("charge", "calls", 100)]
    assert (march["total_amount_cents"], april["total_amount_cents"]) == (200, 2800)
    assert march["payment_status"] == "pending"



def test_a_trial_into_the_second_month_of_a_plan_paid_in_advance(api: httpx.Client, at: Clock,
                                                                  database: Database, org: Org) -> None:
    plan(api, "advance", 3100, pay_in_advance=True, trial_period=10)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "advance", utc(2024, 1, 25, 12))  # trial until Feb 4 12:00
    assert bill(database, org, utc(2024, 1, 26)).billed == []  # nothing is billed at the start of a trial
    february = bill(database, org, utc(2024, 2, 4, 11))
    # February 1st, still in the trial: January's (empty) usage, no subscription fee.
    assert [(b.reason, b.total_amount_cents) for b in february.billed] == [("subscription_periodic", 0)]
    trial_end = bill(database, org, utc(2024, 2, 4, 12))
    # When the trial ends, February is billed from that instant: Feb 4 12:00 -> Feb 29 23:59:59 =
    # 25.5 days -> 26 days x 3100 / 29 = 2779.31 -> 2779.
    assert [(b.reason, b.total_amount_cents) for b in trial_end.billed] == [("subscription_starting", 2779)]
    bill(database, org, utc(2024, 3, 1))
    found = invoices(api)
    assert [(i["issuing_date"], fee_amounts(i)) for i in found] == [
        ("2024-02-01", []),
        ("2024-02-04", [("subscription", "advance", 2779)]),
        ("2024-03-01", [("subscription", "advance", 3100)])]  # March in advance, the whole month
    assert period(found[1])[:2] == ("2024-02-01T00:00:00Z", "2024-02-29T23:59:59Z")


def test_a_trial_ending_on_a_billing_day_is_billed_by_that_days_invoice(api: httpx.Client, at: Clock,
                                                                        database: Database, org: Org) -> None:
    plan(api, "advance", 3100, pay_in_advance=True, trial_period=10)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "advance", utc(2024, 2, 20, 9))  # trial until Mar 1 09:00
    bill(database, org, utc(2024, 4, 1))
    # March 1st bills March in advance: the trial ends that day, so this invoice carries the fee,
    # from Mar 1 09:00 -> Mar 31 23:59:59 = 30.6 -> 31 days: the whole 3100. No invoice at the
    # trial's end; April 1st bills April.
    assert [(i["issuing_date"], fee_amounts(i)) for i in invoices(api)] == [
        ("2024-03-01", [("subscription", "advance", 3100)]),
        ("2024-04-01", [("subscription", "advance", 3100)])]
