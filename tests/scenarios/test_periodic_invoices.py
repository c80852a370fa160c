"""Period invoices: usage in arrears, base fees in arrears and in advance, anniversary periods.

Every expected amount is worked by hand from the plan and lago-semantics.md (in the comments).
"""

from __future__ import annotations

from typing import Any

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


def _prefix(org: Org) -> str:
    # Lago's default document prefix: 3 letters of the organization name, 4 last of its id.
    return f"TES-{org.id.hex[-4:].upper()}"


def test_pay_as_you_go_invoice_equals_the_last_current_usage(api: httpx.Client, at: Clock, database: Database,
                                                             org: Org) -> None:
    metric(api, "storage", "sum_agg", "gb")
    plan(api, "payg", 0, charges=[{"billable_metric_id": metric(api, "calls", "count_agg"), "charge_model": "standard",
                                    "properties": {"amount": "0.25"}}])
    storage_id = ok(api.get("billable_metrics/storage"))["billable_metric"]["lago_id"]
    ok(api.put("plans/payg", json={"plan": {"charges": [
        {"billable_metric_id": storage_id, "charge_model": "standard", "properties": {"amount": "0.0333"}}]}}))
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "payg", utc(2024, 3, 1))
    send(api, "sub", "storage", utc(2024, 3, 2, 8), gb="10.5")
    send(api, "sub", "storage", utc(2024, 3, 20), gb=20)
    send(api, "sub", "storage", utc(2024, 3, 31, 23, 59, 59), gb="7.25")  # the period's last second
    send(api, "sub", "storage", utc(2024, 4, 1), gb=1000)  # April: the next period

    at(utc(2024, 3, 31, 23, 59, 59))
    usage = ok(api.get("customers/cus/current_usage", params={"external_subscription_id": "sub"}))["customer_usage"]
    # 10.5 + 20 + 7.25 = 37.75 GB x 0.0333 = 1.257075 EUR -> 126 cents
    assert usage["amount_cents"] == 126

    assert bill(database, org, utc(2024, 3, 31, 23, 59, 59)).billed == []  # the period has not ended
    assert bill(database, org, utc(2024, 3, 31, 23, 59, 59, 999999)).billed == []  # nor in its last second
    at(utc(2024, 4, 1, 0, 0, 5))
    report = bill(database, org, utc(2024, 4, 1, 0, 0, 5))
    assert [(b.subscription_external_id, b.reason, b.total_amount_cents) for b in report.billed] == [
        ("sub", "subscription_periodic", 126)]
    [invoice] = invoices(api)
    charge_fees = [fee for fee in invoice["fees"] if fee["item"]["type"] == "charge"]
    assert sum(fee["amount_cents"] for fee in charge_fees) == usage["amount_cents"]
    assert fee_amounts(invoice) == [("subscription", "payg", 0), ("charge", "storage", 126)]
    assert charge_fees[0]["units"] == "37.75"
    assert charge_fees[0]["events_count"] == 3
    assert charge_fees[0]["precise_amount"] == "1.257075"
    assert period(invoice) == ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z",
                               "2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z")
    assert invoice["billing_periods"][0]["invoicing_reason"] == "subscription_periodic"
    assert (invoice["status"], invoice["payment_status"], invoice["invoice_type"]) == ("finalized", "pending",
                                                                                      "subscription")
    assert invoice["issuing_date"] == "2024-04-01"
    assert invoice["number"] == f"{_prefix(org)}-001-001"
    assert invoice["sequential_id"] == 1
    totals = {key: invoice[key] for key in ("fees_amount_cents", "taxes_amount_cents", "coupons_amount_cents",
                                            "sub_total_excluding_taxes_amount_cents",
                                            "sub_total_including_taxes_amount_cents", "total_amount_cents",
                                            "total_due_amount_cents")}
    assert totals == {"fees_amount_cents": 126, "taxes_amount_cents": 0, "coupons_amount_cents": 0,
                      "sub_total_excluding_taxes_amount_cents": 126, "sub_total_including_taxes_amount_cents": 126,
                      "total_amount_cents": 126, "total_due_amount_cents": 126}
    assert invoice["customer"]["external_id"] == "cus"
    assert [s["external_id"] for s in invoice["subscriptions"]] == ["sub"]


def _graduated() -> dict[str, Any]:
    return {"graduated_ranges": [
        {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 1001, "to_value": None, "per_unit_amount": "0.002", "flat_amount": "1"}]}


def test_hybrid_plan_base_fee_in_arrears_and_graduated_overage(api: httpx.Client, at: Clock, database: Database,
                                                               org: Org) -> None:
    calls = metric(api, "calls", "sum_agg", "n")
    plan(api, "hybrid", 4900, charges=[{"billable_metric_id": calls, "charge_model": "graduated",
                                        "properties": _graduated()}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "hybrid", utc(2024, 3, 15, 10, 30))
    send(api, "sub", "calls", utc(2024, 3, 16), n=1200)
    send(api, "sub", "calls", utc(2024, 3, 30), n=300)
    send(api, "sub", "calls", utc(2024, 4, 3), n=10)

    bill(database, org, utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 5, 1, 1))
    march, april = invoices(api)
    # March: calendar month, started on the 15th: 17 days of 31 x 4900 = 2687.096... -> 2687.
    # Usage 1500 units: the first 1000 free, then 500 x 0.002 = 1.00 plus the tier's flat 1.00 -> 200.
    assert fee_amounts(march) == [("subscription", "hybrid", 2687), ("charge", "calls", 200)]
    assert march["total_amount_cents"] == 2887
    assert period(march) == ("2024-03-15T00:00:00Z", "2024-03-31T23:59:59Z",
                             "2024-03-15T10:30:00Z", "2024-03-31T23:59:59Z")
    # April: the whole month (already billed once) and 10 units, all in the free tier: a 0 fee
    # that is kept because it has an event.
    assert fee_amounts(april) == [("subscription", "hybrid", 4900), ("charge", "calls", 0)]
    assert april["total_amount_cents"] == 4900
    assert [march["number"][-3:], april["number"][-3:]] == ["001", "002"]


def test_pay_in_advance_base_fee_is_billed_when_the_period_starts(api: httpx.Client, at: Clock,
                                                                   database: Database, org: Org) -> None:
    plan(api, "advance", 3000, pay_in_advance=True)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "advance", utc(2024, 3, 10))
    report = bill(database, org, utc(2024, 3, 10, 0, 0, 1))
    assert [b.reason for b in report.billed] == ["subscription_starting"]
    bill(database, org, utc(2024, 4, 1, 0, 0, 1))
    starting, april = invoices(api)
    # Calendar month started on the 10th: 22 days of 31 x 3000 = 2129.03... -> 2129, issued that day.
    assert fee_amounts(starting) == [("subscription", "advance", 2129)]
    assert starting["issuing_date"] == "2024-03-10"
    assert starting["billing_periods"][0]["invoicing_reason"] == "subscription_starting"
    assert period(starting)[:2] == ("2024-03-10T00:00:00Z", "2024-03-31T23:59:59Z")
    # April 1st bills April's fee in advance (whole month: a fee was billed before) and March's usage.
    assert fee_amounts(april) == [("subscription", "advance", 3000)]
    assert april["issuing_date"] == "2024-04-01"
    assert period(april) == ("2024-04-01T00:00:00Z", "2024-04-30T23:59:59Z",
                             "2024-03-10T00:00:00Z", "2024-03-31T23:59:59Z")


def test_anniversary_on_the_31st(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    plan(api, "anniv", 2900)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "anniv", utc(2024, 1, 31), billing_time="anniversary")
    report = bill(database, org, utc(2024, 3, 31, 0, 0, 1))
    assert len(report.billed) == 2
    first, second = invoices(api)
    # Anchor day 31 in a leap year: Jan 31 - Feb 28 (29 days), then Feb 29 - Mar 30 (31 days);
    # the first starts on its first day, so both bill the whole 2900.
    assert period(first)[:2] == ("2024-01-31T00:00:00Z", "2024-02-28T23:59:59Z")
    assert period(second)[:2] == ("2024-02-29T00:00:00Z", "2024-03-30T23:59:59Z")
    assert [first["issuing_date"], second["issuing_date"]] == ["2024-02-29", "2024-03-31"]
    assert fee_amounts(first) == fee_amounts(second) == [("subscription", "anniv", 2900)]


def test_free_trial_days_are_not_billed(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    plan(api, "trial", 100, trial_period=3)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "trial", utc(2024, 3, 1))
    bill(database, org, utc(2024, 4, 1))
    [invoice] = invoices(api)
    # lago-semantics 5.2: 1.00 EUR/month, start Mar 1, trial 3 days -> Mar 4-31 = 28 days of 31 -> 90.
    assert fee_amounts(invoice) == [("subscription", "trial", 90)]


def test_yearly_plan_billing_charges_monthly(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "yearly", 12000, interval="yearly", bill_charges_monthly=True,
         charges=[{"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "1"}}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "yearly", utc(2024, 1, 1))
    send(api, "sub", "calls", utc(2024, 1, 10))
    send(api, "sub", "calls", utc(2024, 12, 10))
    send(api, "sub", "calls", utc(2024, 12, 11))
    report = bill(database, org, utc(2025, 1, 1))
    assert len(report.billed) == 12  # one invoice a month for the charges
    found = invoices(api)
    # January: its usage only (1 event); the yearly fee is billed in arrears with December's usage.
    assert fee_amounts(found[0]) == [("charge", "calls", 100)]
    assert period(found[0])[2:] == ("2024-01-01T00:00:00Z", "2024-01-31T23:59:59Z")
    assert [fee_amounts(i) for i in found[1:11]] == [[]] * 10  # February to November: nothing used
    assert fee_amounts(found[11]) == [("subscription", "yearly", 12000), ("charge", "calls", 200)]
    assert period(found[11]) == ("2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z",
                                 "2024-12-01T00:00:00Z", "2024-12-31T23:59:59Z")
    assert found[11]["total_amount_cents"] == 12200


def test_charge_minimum_amount_true_up(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    calls = metric(api, "calls", "sum_agg", "n")
    idle = metric(api, "idle", "count_agg")
    plan(api, "min", 0, charges=[
        {"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "1"},
         "min_amount_cents": 5000},
        {"billable_metric_id": idle, "charge_model": "standard", "properties": {"amount": "1"},
         "min_amount_cents": 1000}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "min", utc(2024, 3, 15))
    send(api, "sub", "calls", utc(2024, 3, 20), n=10)
    bill(database, org, utc(2024, 4, 1))
    send(api, "sub", "calls", utc(2024, 4, 2), n=30)
    bill(database, org, utc(2024, 5, 1))
    march, april = invoices(api)
    # March, from the 15th: 17 of 31 days. calls: 5000 x 17 / 31 = 2741.94 -> 2742 minimum, 1000
    # used -> true-up 1742. idle: 1000 x 17 / 31 = 548.39 -> 548, nothing used: a 0 fee and 548.
    assert fee_amounts(march) == [("subscription", "min", 0), ("charge", "calls", 1000), ("charge", "calls", 1742),
                                  ("charge", "idle", 0), ("charge", "idle", 548)]
    true_up = march["fees"][2]
    assert true_up["lago_true_up_parent_fee_id"] == march["fees"][1]["lago_id"]
    assert march["fees"][1]["lago_true_up_fee_id"] == true_up["lago_id"]
    assert (true_up["units"], true_up["events_count"]) == ("1", 0)
    assert march["total_amount_cents"] == 1000 + 1742 + 548
    # April, whole month (lago-semantics 2.10): one event at 30.00 -> 3000 + true-up 2000; idle 0 + 1000.
    assert fee_amounts(april) == [("subscription", "min", 0), ("charge", "calls", 3000), ("charge", "calls", 2000),
                                  ("charge", "idle", 0), ("charge", "idle", 1000)]


def test_minimum_commitment_true_up(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "committed", 1000, minimum_commitment={"amount_cents": 5000},
         charges=[{"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "1"}}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "committed", utc(2024, 3, 15))
    for day in (16, 17, 18):
        send(api, "sub", "calls", utc(2024, 3, day))
    for day in range(1, 31):
        send(api, "sub", "calls", utc(2024, 4, day, 12))
    bill(database, org, utc(2024, 4, 1))
    bill(database, org, utc(2024, 5, 1))
    march, april = invoices(api)
    # March, from the 15th: 17 of 31 days. Fee 1000 x 17/31 = 548.39 -> 548; usage 3 x 1.00 = 300.
    # Commitment 5000 x 17/31 = 2741.94 -> 2742; true-up 2742 - (548 + 300) = 1894.
    assert fee_amounts(march) == [("subscription", "committed", 548), ("charge", "calls", 300),
                                  ("commitment", "minimum_commitment", 1894)]
    assert march["total_amount_cents"] == 2742
    # April: 1000 + 30 events = 4000 < 5000 -> true-up 1000.
    assert fee_amounts(april) == [("subscription", "committed", 1000), ("charge", "calls", 3000),
                                  ("commitment", "minimum_commitment", 1000)]


def test_minimum_commitment_of_a_pay_in_advance_plan_is_settled_on_the_next_invoice(
        api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    calls = metric(api, "calls", "count_agg")
    plan(api, "committed", 1000, pay_in_advance=True, minimum_commitment={"amount_cents": 5000},
         charges=[{"billable_metric_id": calls, "charge_model": "standard", "properties": {"amount": "1"}}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "committed", utc(2024, 3, 1))
    send(api, "sub", "calls", utc(2024, 3, 5))
    bill(database, org, utc(2024, 4, 1))
    starting, april = invoices(api)
    assert fee_amounts(starting) == [("subscription", "committed", 1000)]
    # April 1st: April's fee in advance; March settled: 5000 - (1000 March fee + 100 usage) = 3900.
    assert fee_amounts(april) == [("subscription", "committed", 1000), ("charge", "calls", 100),
                                  ("commitment", "minimum_commitment", 3900)]
