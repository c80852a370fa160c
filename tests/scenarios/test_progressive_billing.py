"""Progressive billing: an invoice when lifetime usage passes a usage threshold, deducted by the
next invoice of the period, each euro of usage billed once."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from billow.config import Settings
from billow.core.db import Database
from billow.invoices import lifetime, progressive, repository
from billow.jobs.worker import load_tasks, run_pending, schedule_periodic
from billow.models import AppliedUsageThreshold, Webhook
from tests.conftest import Org
from tests.scenarios.conftest import (
    Clock,
    bill,
    customer,
    fee_amounts,
    invoices,
    listen,
    metric,
    ok,
    plan,
    send,
    subscribe,
    utc,
)
from tests.scenarios.test_coupons import credits

UNIT_PRICE = {"amount": "0.0002"}  # 11 000 units are 2.20 EUR


def catalog(api: httpx.Client, thresholds: list[dict[str, Any]], **fields: Any) -> None:
    units = metric(api, "units", "sum_agg", "n")
    plan(api, "progressive", 3100, charges=[{"billable_metric_id": units, "charge_model": "standard",
                                             "properties": UNIT_PRICE}], usage_thresholds=thresholds, **fields)


def use(api: httpx.Client, at: Clock, database: Database, org: Org, when: datetime, units: int) -> list[Any]:
    """Events of ``units`` at ``when``, then the billing run an hour later: what it issued."""
    at(when)
    send(api, "sub", "units", when, n=units)
    later = when.replace(hour=when.hour + 1)
    at(later)
    return bill(database, org, later).billed


def progressive_invoices(api: httpx.Client) -> list[dict[str, Any]]:
    return [invoice for invoice in invoices(api) if invoice["invoice_type"] == "progressive_billing"]


def summary(invoice: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (invoice["fees_amount_cents"], invoice["progressive_billing_credit_amount_cents"],
            invoice["sub_total_excluding_taxes_amount_cents"], invoice["taxes_amount_cents"],
            invoice["total_amount_cents"])


def applied(invoice: dict[str, Any]) -> list[tuple[int, bool, int]]:
    return [(a["usage_threshold"]["amount_cents"], a["usage_threshold"]["recurring"], a["lifetime_usage_amount_cents"])
            for a in invoice["applied_usage_thresholds"]]


EXAMPLE = [{"amount_cents": 200, "threshold_display_name": "First"}, {"amount_cents": 500},
           {"amount_cents": 700}, {"amount_cents": 1000, "recurring": True, "threshold_display_name": "Every 10"}]


def test_lagos_worked_example(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    listen(api)
    catalog(api, EXAMPLE)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    issued = [len(use(api, at, database, org, utc(2024, 3, day, 10), 11_000)) for day in (5, 10, 15, 20)]
    issued += [len(use(api, at, database, org, utc(2024, 3, day, 10), 110_000)) for day in (25, 27)]
    assert issued == [1, 0, 1, 1, 1, 1]  # 4.40 EUR passes nothing
    found = progressive_invoices(api)
    # Cumulative usage 2.20, 6.60, 8.80, 30.80, 52.80 EUR; each invoice deducts the one before it.
    assert [summary(invoice) for invoice in found] == [
        (220, 0, 220, 0, 220), (660, 220, 440, 0, 440), (880, 660, 220, 0, 220),
        (3080, 880, 2200, 0, 2200), (5280, 3080, 2200, 0, 2200)]
    assert [applied(invoice) for invoice in found] == [
        [(200, False, 220)], [(500, False, 660)], [(700, False, 880)], [(1000, True, 3080)], [(1000, True, 5280)]]
    first = found[0]
    assert first["applied_usage_thresholds"][0]["usage_threshold"]["threshold_display_name"] == "First"
    assert first["status"] == "finalized" and first["payment_status"] == "pending"
    assert first["billing_periods"][0]["invoicing_reason"] == "progressive_billing"
    assert first["billing_periods"][0]["charges_from_datetime"] == "2024-03-01T00:00:00Z"
    assert first["billing_periods"][0]["charges_to_datetime"] == "2024-03-05T11:00:00Z"
    assert fee_amounts(first) == [("charge", "units", 220)]
    numbers = [invoice["number"] for invoice in found]
    assert [number[-3:] for number in numbers] == ["001", "002", "003", "004", "005"]
    assert credits(found[1]) == [("invoice", numbers[0], 220, True)]
    assert credits(found[4]) == [("invoice", numbers[3], 3080, True)]
    # The period's invoice bills the month and all its usage, less what progressive invoices billed.
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [closing] = [invoice for invoice in invoices(api) if invoice["invoice_type"] == "subscription"]
    assert fee_amounts(closing) == [("subscription", "progressive", 3100), ("charge", "units", 5280)]
    assert summary(closing) == (8380, 5280, 3100, 0, 3100)
    assert credits(closing) == [("invoice", numbers[4], 5280, True)]
    assert closing["applied_usage_thresholds"] == []
    assert [fee["precise_coupons_amount_cents"] for fee in closing["fees"]] == ["0", "5280"]
    with database.unit_of_work(write=False) as session:
        kinds = list(session.scalars(select(Webhook.webhook_type).where(Webhook.organization_id == org.id)
                                     .order_by(Webhook.job_id)))
    assert kinds.count("subscription.usage_threshold_reached") == 5
    assert kinds.count("invoice.created") == 6


def test_two_thresholds_at_once_with_taxes_and_the_period_end_credit(api: httpx.Client, at: Clock,
                                                                      database: Database, org: Org) -> None:
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    catalog(api, [{"amount_cents": 200}, {"amount_cents": 500}])
    customer(api, "cus", tax_codes=["vat"])
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    assert len(use(api, at, database, org, utc(2024, 3, 3, 10), 30_000)) == 1  # 6.00 EUR passes 2.00 and 5.00
    [first] = progressive_invoices(api)
    assert applied(first) == [(200, False, 600), (500, False, 600)]
    assert summary(first) == (600, 0, 600, 120, 720)
    use(api, at, database, org, utc(2024, 3, 20, 10), 10_000)  # 8.00 EUR: nothing more to pass
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [closing] = [invoice for invoice in invoices(api) if invoice["invoice_type"] == "subscription"]
    # 3100 + 800 in fees, 600 deducted before taxes: 3300, VAT 660.
    assert summary(closing) == (3900, 600, 3300, 660, 3960)
    assert [fee["taxes_amount_cents"] for fee in closing["fees"]] == [620, 40]
    assert credits(closing) == [("invoice", first["number"], 600, True)]


def test_a_recurring_threshold_across_periods(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    catalog(api, [{"amount_cents": 1000, "recurring": True}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    assert len(use(api, at, database, org, utc(2024, 3, 5, 10), 60_000)) == 1  # 12.00 EUR
    assert use(api, at, database, org, utc(2024, 3, 8, 10), 35_000) == []  # 19.00: 2.00 + 7.00 < 10.00
    assert len(use(api, at, database, org, utc(2024, 3, 9, 10), 10_000)) == 1  # 21.00: 2.00 + 9.00
    assert [summary(invoice) for invoice in progressive_invoices(api)] == [(1200, 0, 1200, 0, 1200),
                                                                            (2100, 1200, 900, 0, 900)]
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [closing] = [invoice for invoice in invoices(api) if invoice["invoice_type"] == "subscription"]
    assert summary(closing) == (5200, 2100, 3100, 0, 3100)
    # April: 21.00 EUR invoiced in all; 1.00 (21.00 mod 10.00) + 8.00 stays under the step, 1.00 + 9.00 reaches it.
    assert use(api, at, database, org, utc(2024, 4, 3, 10), 40_000) == []
    assert len(use(api, at, database, org, utc(2024, 4, 4, 10), 5_000)) == 1
    april = progressive_invoices(api)[-1]
    assert summary(april) == (900, 0, 900, 0, 900)
    assert applied(april) == [(1000, True, 3000)]
    assert april["billing_periods"][0]["charges_from_datetime"] == "2024-04-01T00:00:00Z"


def test_a_second_run_and_a_stale_concurrent_run_create_nothing(api: httpx.Client, at: Clock, database: Database,
                                                                org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog(api, EXAMPLE)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    at(utc(2024, 3, 5, 10))
    send(api, "sub", "units", utc(2024, 3, 5, 10), n=11_000)
    at(utc(2024, 3, 5, 11))
    with database.unit_of_work(write=False) as session:
        [subscription_id] = progressive.candidates(session, utc(2024, 3, 5, 11), org.id)
        subscription = repository.subscription(session, subscription_id)
        assert subscription is not None
        stale = lifetime.lifetime_usage(session, subscription, utc(2024, 3, 5, 11))
    assert len(bill(database, org, utc(2024, 3, 5, 11)).billed) == 1
    assert bill(database, org, utc(2024, 3, 5, 11)).billed == []
    assert bill(database, org, utc(2024, 3, 5, 12)).billed == []
    # A run that read the state before the first invoice existed names the same crossing: the
    # constraint refuses its invoice.
    monkeypatch.setattr(lifetime, "lifetime_usage", lambda *_: stale)
    assert progressive.bill_thresholds(database, utc(2024, 3, 5, 13), org.id) == []
    assert len(progressive_invoices(api)) == 1
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(AppliedUsageThreshold)
                              .where(AppliedUsageThreshold.organization_id == org.id)) == 1


def test_a_plan_without_thresholds_gets_no_progressive_invoice(api: httpx.Client, at: Clock, database: Database,
                                                               org: Org) -> None:
    catalog(api, [])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    assert use(api, at, database, org, utc(2024, 3, 5, 10), 5_000_000) == []
    with database.unit_of_work(write=False) as session:
        assert progressive.candidates(session, utc(2024, 3, 5, 11), org.id) == []
    assert progressive_invoices(api) == []
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [closing] = invoices(api)
    assert summary(closing) == (103100, 0, 103100, 0, 103100)
    assert json.loads(json.dumps(closing["credits"])) == []


def test_lifetime_usage_with_historical_usage(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    catalog(api, EXAMPLE)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    before = ok(api.get("subscriptions/sub/lifetime_usage"))["lifetime_usage"]
    assert (before["external_historical_usage_amount_cents"], before["current_usage_amount_cents"]) == (0, 0)
    body = {"lifetime_usage": {"external_historical_usage_amount_cents": 150}}
    updated = ok(api.put("subscriptions/sub/lifetime_usage", json=body))["lifetime_usage"]
    assert (updated["external_historical_usage_amount_cents"], updated["current_usage_amount_cents"]) == (150, 0)
    assert updated["lago_id"] == before["lago_id"]
    # 1.50 EUR billed elsewhere + 0.60 EUR of usage passes 2.00 EUR: the invoice bills the 0.60.
    assert len(use(api, at, database, org, utc(2024, 3, 4, 10), 3_000)) == 1
    [found] = progressive_invoices(api)
    assert summary(found) == (60, 0, 60, 0, 60)
    assert applied(found) == [(200, False, 210)]
    usage = ok(api.get("subscriptions/sub/lifetime_usage"))["lifetime_usage"]
    assert {key: usage[key] for key in ("external_subscription_id", "external_historical_usage_amount_cents",
                                        "invoiced_usage_amount_cents", "current_usage_amount_cents",
                                        "from_datetime", "to_datetime")} == {
        "external_subscription_id": "sub", "external_historical_usage_amount_cents": 150,
        "invoiced_usage_amount_cents": 0, "current_usage_amount_cents": 60,
        "from_datetime": "2024-03-01T00:00:00Z", "to_datetime": "2024-03-04T11:00:00Z"}
    assert [(t["amount_cents"], t["completion_ratio"], t["reached_at"]) for t in usage["usage_thresholds"]] == [
        (200, 1.0, "2024-03-04T11:00:00Z"), (500, pytest.approx(10 / 300), None), (700, 0.0, None),
        (1700, 0.0, None)]
    assert api.get("subscriptions/nope/lifetime_usage").status_code == 404
    refused = api.put("subscriptions/sub/lifetime_usage",
                      json={"lifetime_usage": {"external_historical_usage_amount_cents": -1}})
    assert refused.status_code == 422


def test_the_periodic_service_issues_the_progressive_invoice(api: httpx.Client, at: Clock, database: Database,
                                                             org: Org) -> None:
    catalog(api, EXAMPLE)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    at(utc(2024, 3, 6, 10))
    send(api, "sub", "units", utc(2024, 3, 6, 10), n=11_000)
    load_tasks()
    settings = Settings(database_url=database.url, periodic_billing_clock_enabled=False,
                        periodic_webhook_sweeper_enabled=False, periodic_event_errors_enabled=False,
                        periodic_jobs_cleanup_enabled=False, periodic_draft_refresh_enabled=False,
                        periodic_pay_in_advance_fees_enabled=False, periodic_progressive_billing_interval=60)
    later = utc(2024, 3, 6, 10, 0, 30)
    at(later)
    assert schedule_periodic(database, settings, later, {}) == ["progressive_billing"]
    assert run_pending(database, settings, now=later, names=["periodic.progressive_billing"]) == 1
    [found] = progressive_invoices(api)
    assert summary(found) == (220, 0, 220, 0, 220)
    assert found["issuing_date"] == "2024-03-06"


def test_the_minimum_commitment_counts_progressively_billed_usage_once(api: httpx.Client, at: Clock,
                                                                      database: Database, org: Org) -> None:
    catalog(api, [{"amount_cents": 200}], minimum_commitment={"amount_cents": 10000})
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    assert len(use(api, at, database, org, utc(2024, 3, 3, 10), 30_000)) == 1  # 6.00 EUR
    [found] = progressive_invoices(api)
    assert fee_amounts(found) == [("charge", "units", 600)]  # no true-up on a progressive invoice
    at(utc(2024, 4, 1, 1))
    bill(database, org, utc(2024, 4, 1, 1))
    [closing] = [invoice for invoice in invoices(api) if invoice["invoice_type"] == "subscription"]
    # 100.00 EUR committed, 31.00 + 6.00 EUR billed in the month: a true-up of 63.00 EUR.
    assert fee_amounts(closing) == [("subscription", "progressive", 3100), ("charge", "units", 600),
                                    ("commitment", "minimum_commitment", 6300)]
    assert summary(closing) == (10000, 600, 9400, 0, 9400)


def test_concurrent_runs_issue_one_invoice(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    catalog(api, EXAMPLE)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "progressive", utc(2024, 3, 1))
    at(utc(2024, 3, 5, 10))
    send(api, "sub", "units", utc(2024, 3, 5, 10), n=40_000)  # 8.00 EUR: 2.00, 5.00 and 7.00 at once
    at(utc(2024, 3, 5, 11))
    start = threading.Barrier(3)
    results: list[int] = []

    def run() -> None:
        start.wait()
        results.append(len(progressive.bill_thresholds(database, utc(2024, 3, 5, 11), org.id)))

    runs = [threading.Thread(target=run) for _ in range(3)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    assert sorted(results) == [0, 0, 1]
    [found] = progressive_invoices(api)
    assert applied(found) == [(200, False, 800), (500, False, 800), (700, False, 800)]
