"""The minimum commitment of a plan period a free trial covers in all or in part.

As in Lago (``Commitments::Minimum::CalculateTrueUpFeeService``), the trial changes only the
subscription fee: the commitment is prorated by the days of the period the subscription covers
(from its start, trial days included) and the true-up tops the period's fees up to it, whether or
not the trial left a subscription fee to bill (lago-semantics.md 5.2, 6.8).
"""

from __future__ import annotations

import httpx

from billow.core.db import Database
from tests.conftest import Org
from tests.scenarios.conftest import Clock, bill, customer, fee_amounts, invoices, metric, plan, send, subscribe, utc


def catalog(api: httpx.Client, trial_days: int) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "committed", 3100, trial_period=trial_days, minimum_commitment={"amount_cents": 10000},
         charges=[{"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "1"}}])


def calls(api: httpx.Client, at: Clock, day: int, count: int) -> None:
    at(utc(2024, 3, day, 12))
    for minute in range(count):
        send(api, "sub", "calls", utc(2024, 3, day, 12, minute))


def test_a_trial_covering_the_whole_first_period(api: httpx.Client, at: Clock, database: Database,
                                                 org: Org) -> None:
    catalog(api, 40)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "committed", utc(2024, 3, 1))  # trial until Apr 10
    calls(api, at, 5, 6)
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [march] = invoices(api)
    # No subscription fee while the trial runs; 6.00 of usage; the whole of March committed:
    # 100.00 - 6.00 = 94.00.
    assert fee_amounts(march) == [("charge", "calls", 600), ("commitment", "minimum_commitment", 9400)]
    assert march["total_amount_cents"] == 10000
    at(utc(2024, 5, 1, 1))
    bill(database, org, utc(2024, 5, 1, 1))
    april = invoices(api)[-1]
    # April: the fee from the trial's end, Apr 10-30 = 21 days x 3100 / 30 = 2170; no usage.
    assert fee_amounts(april) == [("subscription", "committed", 2170), ("commitment", "minimum_commitment", 7830)]
    assert april["total_amount_cents"] == 10000


def test_a_trial_covering_half_of_the_first_period(api: httpx.Client, at: Clock, database: Database,
                                                   org: Org) -> None:
    catalog(api, 15)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "committed", utc(2024, 3, 1))  # trial until Mar 16
    calls(api, at, 5, 6)
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [march] = invoices(api)
    # The fee of Mar 16-31 = 16 days x 3100 / 31 = 1600; 6.00 of usage; 100.00 - 22.00 = 78.00.
    assert fee_amounts(march) == [("subscription", "committed", 1600), ("charge", "calls", 600),
                                  ("commitment", "minimum_commitment", 7800)]
    assert march["total_amount_cents"] == 10000


def test_a_trial_covering_a_first_period_started_late(api: httpx.Client, at: Clock, database: Database,
                                                      org: Org) -> None:
    catalog(api, 40)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "committed", utc(2024, 3, 11))  # trial until Apr 20
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [march] = invoices(api)
    # Mar 11-31 covered: 21 / 31 of 100.00 = 67.74, no fee and no usage to deduct.
    assert fee_amounts(march) == [("commitment", "minimum_commitment", 6774)]
    assert march["total_amount_cents"] == 6774
