"""Every plan interval, calendar and anniversary, and billing on the 31st.

Plans are in arrears, customers in UTC. A calendar subscription started mid-period pays the days
it ran of its first period (days x amount / days of the period, rounded half up) and the whole
amount after; an anniversary subscription's periods start on its own day, so each is whole
(lago-semantics.md 4 and 5).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from billow.core.db import Database
from tests.conftest import Org
from tests.scenarios.conftest import Clock, bill, customer, fee_amounts, invoices, period, plan, subscribe, utc

# (interval, billing time, amount, start, billed at, [(from, to, issuing date, fee)])
CASES = [
    # ISO weeks start on Monday: Wed Mar 6 - Sun Mar 10 = 5 of 7 days x 700 = 500, then a whole week.
    ("weekly", "calendar", 700, utc(2024, 3, 6), utc(2024, 3, 18), [
        ("2024-03-06T00:00:00Z", "2024-03-10T23:59:59Z", "2024-03-11", 500),
        ("2024-03-11T00:00:00Z", "2024-03-17T23:59:59Z", "2024-03-18", 700)]),
    # Weeks from Wednesday to Tuesday.
    ("weekly", "anniversary", 700, utc(2024, 3, 6), utc(2024, 3, 20), [
        ("2024-03-06T00:00:00Z", "2024-03-12T23:59:59Z", "2024-03-13", 700),
        ("2024-03-13T00:00:00Z", "2024-03-19T23:59:59Z", "2024-03-20", 700)]),
    # Q1 2024 has 91 days (31 + 29 + 31); Feb 15 - Mar 31 = 15 + 31 = 46 days x 9100 / 91 = 4600.
    ("quarterly", "calendar", 9100, utc(2024, 2, 15), utc(2024, 7, 1), [
        ("2024-02-15T00:00:00Z", "2024-03-31T23:59:59Z", "2024-04-01", 4600),
        ("2024-04-01T00:00:00Z", "2024-06-30T23:59:59Z", "2024-07-01", 9100)]),
    ("quarterly", "anniversary", 9100, utc(2024, 2, 15), utc(2024, 8, 15), [
        ("2024-02-15T00:00:00Z", "2024-05-14T23:59:59Z", "2024-05-15", 9100),
        ("2024-05-15T00:00:00Z", "2024-08-14T23:59:59Z", "2024-08-15", 9100)]),
    # H1 2024 has 182 days; Apr 1 - Jun 30 = 91 days x 18200 / 182 = 9100.
    ("semiannual", "calendar", 18200, utc(2024, 4, 1), utc(2025, 1, 1), [
        ("2024-04-01T00:00:00Z", "2024-06-30T23:59:59Z", "2024-07-01", 9100),
        ("2024-07-01T00:00:00Z", "2024-12-31T23:59:59Z", "2025-01-01", 18200)]),
    ("semiannual", "anniversary", 18200, utc(2024, 4, 1), utc(2025, 4, 1), [
        ("2024-04-01T00:00:00Z", "2024-09-30T23:59:59Z", "2024-10-01", 18200),
        ("2024-10-01T00:00:00Z", "2025-03-31T23:59:59Z", "2025-04-01", 18200)]),
    # 2024 has 366 days; Jul 1 - Dec 31 = 184 days x 36600 / 366 = 18400.
    ("yearly", "calendar", 36600, utc(2024, 7, 1), utc(2026, 1, 1), [
        ("2024-07-01T00:00:00Z", "2024-12-31T23:59:59Z", "2025-01-01", 18400),
        ("2025-01-01T00:00:00Z", "2025-12-31T23:59:59Z", "2026-01-01", 36600)]),
    ("yearly", "anniversary", 36600, utc(2024, 7, 1), utc(2026, 7, 1), [
        ("2024-07-01T00:00:00Z", "2025-06-30T23:59:59Z", "2025-07-01", 36600),
        ("2025-07-01T00:00:00Z", "2026-06-30T23:59:59Z", "2026-07-01", 36600)]),
]


@pytest.mark.parametrize(("interval", "billing_time", "amount", "start", "end", "expected"), CASES,
                         ids=[f"{case[0]}-{case[1]}" for case in CASES])
def test_every_interval(api: httpx.Client, at: Clock, database: Database, org: Org, interval: str,
                        billing_time: str, amount: int, start: datetime, end: datetime,
                        expected: list[tuple[str, str, str, int]]) -> None:
    plan(api, "p", amount, interval=interval)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "p", start, billing_time=billing_time)
    # A second before the end, only the first period is over.
    early = bill(database, org, end - timedelta(seconds=1))
    assert [billed.total_amount_cents for billed in early.billed] == [expected[0][3]]
    assert [billed.total_amount_cents for billed in bill(database, org, end).billed] == [expected[1][3]]
    found = invoices(api)
    assert [(period(i)[0], period(i)[1], i["issuing_date"], fee_amounts(i)) for i in found] == [
        (start_, stop, issued, [("subscription", "p", fee)]) for start_, stop, issued, fee in expected]
    assert bill(database, org, end).billed == []  # nothing more is due


def test_billing_on_the_31st(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    plan(api, "p", 3100)
    customer(api, "cal")
    customer(api, "ann")
    subscribe(api, at, "cal-sub", "cal", "p", utc(2023, 1, 31))
    subscribe(api, at, "ann-sub", "ann", "p", utc(2023, 1, 31), billing_time="anniversary")
    bill(database, org, utc(2023, 6, 1))
    calendar = invoices(api, external_customer_id="cal")
    # Calendar: January is one day (the 31st) of 31 x 3100 = 100, then whole months.
    assert [(period(i)[:2], i["issuing_date"], i["total_amount_cents"]) for i in calendar] == [
        (("2023-01-31T00:00:00Z", "2023-01-31T23:59:59Z"), "2023-02-01", 100),
        (("2023-02-01T00:00:00Z", "2023-02-28T23:59:59Z"), "2023-03-01", 3100),
        (("2023-03-01T00:00:00Z", "2023-03-31T23:59:59Z"), "2023-04-01", 3100),
        (("2023-04-01T00:00:00Z", "2023-04-30T23:59:59Z"), "2023-05-01", 3100),
        (("2023-05-01T00:00:00Z", "2023-05-31T23:59:59Z"), "2023-06-01", 3100)]
    anniversary = invoices(api, external_customer_id="ann")
    # Anniversary on the 31st of a common year: billed on Feb 28, Mar 31, Apr 30 and May 31; the
    # period before a clamped start ends the day before (Jan 31 - Feb 27, Feb 28 - Mar 30, ...).
    # Each period is whole: 3100.
    assert [(period(i)[:2], i["issuing_date"], i["total_amount_cents"]) for i in anniversary] == [
        (("2023-01-31T00:00:00Z", "2023-02-27T23:59:59Z"), "2023-02-28", 3100),
        (("2023-02-28T00:00:00Z", "2023-03-30T23:59:59Z"), "2023-03-31", 3100),
        (("2023-03-31T00:00:00Z", "2023-04-29T23:59:59Z"), "2023-04-30", 3100),
        (("2023-04-30T00:00:00Z", "2023-05-30T23:59:59Z"), "2023-05-31", 3100)]
