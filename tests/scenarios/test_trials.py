"""A free trial that crosses a month boundary.

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
    # March 25-31 is all trial: no fee; the 2 events of the trial are billed, 2 x 1.00.
    assert fee_amounts(march) == [("subscription", "trial", 0), ("charge", "calls", 200)]
    assert period(march) == ("2024-03-25T00:00:00Z", "2024-03-31T23:59:59Z",
                             "2024-03-25T10:00:00Z", "2024-03-31T23:59:59Z")
    # April: from the trial's end, Apr 4 10:00, to Apr 30 23:59:59 = 26.6 days -> 27 days (Apr 4-30)
    # x 3000 / 30 = 2700; one event, 1.00.
    assert fee_amounts(april) == [("subscription", "trial", 2700), ("charge", "calls", 100)]
    assert (march["total_amount_cents"], april["total_amount_cents"]) == (200, 2800)
    assert march["payment_status"] == "pending"

