"""Pay-in-advance charges on recurring metrics (lago-semantics 3.2): each event bills its rise of
the period's high-water mark, which starts at the units carried into the period; the invoice that
closes a period bills the units carried into the next one (full units even when prorated), or, for
a charge that is not invoiceable, a fee without invoice is recorded for them; current usage shows
the period's peak, not the level.

Worked example (seats, 10.00 each, recurring sum, invoiceable):
  March: +5 -> fee 5 x 10.00 = 50.00; -2 -> 0 (level 3, peak 5; nothing refunded).
  Invoice closing March: plan 10.00 + the 3 carried seats x 10.00 = 40.00.
  April (mark starts at 3): +4 -> 7, rise 4 -> 40.00; -1 -> 6 -> 0; +2 -> 8, rise 1 -> 10.00;
  -3 -> 5 -> 0. Current usage: the peak 8 -> 80.00.
  Invoice closing April: 10.00 + 5 carried x 10.00 = 60.00.
  May (mark starts at 5): +2 -> 7, rise 2 -> 20.00. Invoice closing May: 10.00 + 7 x 10.00 = 80.00.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from billow.core.db import Database
from billow.fees import tasks
from billow.models import Webhook
from tests.conftest import Org
from tests.scenarios.conftest import Clock, bill, customer, fee_amounts, invoices, listen, ok, plan, subscribe, utc


def _recurring_metric(api: httpx.Client, code: str, aggregation_type: str) -> str:
    body = {"name": code, "code": code, "aggregation_type": aggregation_type, "field_name": "n", "recurring": True}
    return ok(api.post("billable_metrics", json={"billable_metric": body}))["billable_metric"]["lago_id"]


def _seats(api: httpx.Client, at: Clock, aggregation_type: str, amount_cents: int, unit_price: str,
           start: datetime, **charge: Any) -> None:
    """Plan ``p`` (``amount_cents`` a month in arrears) with one invoiceable pay-in-advance charge on
    a recurring ``seats`` metric at ``unit_price`` a seat; customer ``cus`` on it from ``start``."""
    seats = _recurring_metric(api, "seats", aggregation_type)
    plan(api, "p", amount_cents, charges=[{"billable_metric_id": seats, "charge_model": "standard",
                                           "pay_in_advance": True, "invoiceable": True,
                                           "properties": {"amount": unit_price}, **charge}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "p", start)


def _send(api: httpx.Client, at: Clock, database: Database, org: Org, transaction_id: str, code: str,
          when: datetime, **properties: Any) -> None:
    at(when)
    ok(api.post("events", json={"event": {"transaction_id": transaction_id, "external_subscription_id": "sub",
                                          "code": code, "timestamp": int(when.timestamp()), "properties": properties}}))
    assert tasks.create_fees(database, when.replace(second=30), org.id) == 1


def _event_fees(api: httpx.Client) -> list[tuple[str, int, str, str]]:
    """(event, amount, units, total aggregated units) of each per-event fee, oldest first."""
    listed = ok(api.get("fees", params={"external_subscription_id": "sub"}))["fees"]
    return [(fee["event_transaction_id"], fee["amount_cents"], fee["units"], fee["total_aggregated_units"])
            for fee in listed if fee["event_transaction_id"]]


def _usage(api: httpx.Client) -> dict[str, Any]:
    usage = ok(api.get("customers/cus/current_usage", params={"external_subscription_id": "sub"}))["customer_usage"]
    [charge] = usage["charges_usage"]
    return charge  # type: ignore[no-any-return]


def _period_invoices(api: httpx.Client) -> list[dict[str, Any]]:
    return [invoice for invoice in invoices(api)
            if invoice["billing_periods"][0]["invoicing_reason"] == "subscription_periodic"]


def test_seats_over_three_periods(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _seats(api, at, "sum_agg", 1000, "10", utc(2024, 3, 1))

    _send(api, at, database, org, "m1", "seats", utc(2024, 3, 3, 10), n=5)
    _send(api, at, database, org, "m2", "seats", utc(2024, 3, 10, 10), n=-2)
    assert _event_fees(api) == [("m1", 5000, "5", "5"), ("m2", 0, "0", "3")]
    usage = _usage(api)  # the peak of March, 5 seats, not the level 3
    assert (usage["units"], usage["amount_cents"]) == ("5", 5000)

    bill(database, org, utc(2024, 4, 1, 1))
    [march] = _period_invoices(api)
    # The plan 10.00 and the 3 seats carried into April, 3 x 10.00.
    assert fee_amounts(march) == [("subscription", "p", 1000), ("charge", "seats", 3000)]
    assert march["fees"][1]["units"] == "3"
    assert march["total_amount_cents"] == 4000

    _send(api, at, database, org, "a1", "seats", utc(2024, 4, 5, 10), n=4)
    _send(api, at, database, org, "a2", "seats", utc(2024, 4, 6, 10), n=-1)
    _send(api, at, database, org, "a3", "seats", utc(2024, 4, 7, 10), n=2)
    _send(api, at, database, org, "a4", "seats", utc(2024, 4, 8, 10), n=-3)
    # 3 carried: +4 -> 7 bills 4; -1 -> 6 nothing; +2 -> 8 bills the 1 above the peak of 7; -3 -> 5.
    assert _event_fees(api)[2:] == [("a1", 4000, "4", "7"), ("a2", 0, "0", "6"), ("a3", 1000, "1", "8"),
                                    ("a4", 0, "0", "5")]
    usage = _usage(api)  # April's peak, 8 seats
    assert (usage["units"], usage["amount_cents"]) == ("8", 8000)

    bill(database, org, utc(2024, 5, 1, 1))
    april = _period_invoices(api)[1]
    assert fee_amounts(april) == [("subscription", "p", 1000), ("charge", "seats", 5000)]
    assert april["total_amount_cents"] == 6000

    _send(api, at, database, org, "y1", "seats", utc(2024, 5, 3, 10), n=2)
    assert _event_fees(api)[-1] == ("y1", 2000, "2", "7")
    usage = _usage(api)
    assert (usage["units"], usage["amount_cents"]) == ("7", 7000)
    bill(database, org, utc(2024, 6, 1, 1))
    may = _period_invoices(api)[2]
    assert fee_amounts(may) == [("subscription", "p", 1000), ("charge", "seats", 7000)]
    assert may["total_amount_cents"] == 8000
    # Every per-event fee had its own invoice; none is billed twice.
    per_event = [invoice for invoice in invoices(api)
                 if invoice["billing_periods"][0]["invoicing_reason"] == "in_advance_charge"]
    assert sorted(invoice["total_amount_cents"] for invoice in per_event) == sorted(
        amount for _, amount, _, _ in _event_fees(api))


def test_prorated_unique_count_carries_full_units(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _seats(api, at, "unique_count_agg", 0, "31", utc(2024, 3, 1), prorated=True)
    # Alice from March 22: 10 of 31 days, 0.32259 (ceil 5) x 31.00 = 10.00029 -> 10.00.
    _send(api, at, database, org, "alice", "seats", utc(2024, 3, 22, 10), n="alice")
    assert _event_fees(api) == [("alice", 1000, "0.32259", "1")]

    bill(database, org, utc(2024, 4, 1, 1))
    [march] = _period_invoices(api)
    # Carried into April: 1 seat, billed in full (not prorated): 31.00.
    assert fee_amounts(march) == [("subscription", "p", 0), ("charge", "seats", 3100)]
    assert march["fees"][1]["units"] == "1"

    # Bob from April 16: 15 of 30 days above Alice's carried seat: 0.5 x 31.00 = 15.50.
    _send(api, at, database, org, "bob", "seats", utc(2024, 4, 16, 10), n="bob")
    assert _event_fees(api)[-1][:2] == ("bob", 1550)
    bill(database, org, utc(2024, 5, 1, 1))
    april = _period_invoices(api)[1]
    # 2 seats carried into May, in full.
    assert fee_amounts(april) == [("subscription", "p", 0), ("charge", "seats", 6200)]


def test_the_final_invoice_bills_no_carried_units(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    _seats(api, at, "sum_agg", 3000, "10", utc(2024, 4, 1))
    _send(api, at, database, org, "s1", "seats", utc(2024, 4, 3, 10), n=5)
    at(utc(2024, 4, 15, 12))
    ok(api.delete("subscriptions/sub"))
    bill(database, org, utc(2024, 4, 15, 13))
    [final] = [invoice for invoice in invoices(api)
               if invoice["billing_periods"][0]["invoicing_reason"] == "subscription_terminating"]
    # April 1 to 15: 15 of 30 days x 30.00 = 15.00; the 5 seats were billed by their event, and
    # nothing is carried past the end.
    assert fee_amounts(final) == [("subscription", "p", 1500)]


def test_a_charge_that_is_not_invoiceable_records_a_fee_for_the_carried_units(
        api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    listen(api)
    _seats(api, at, "unique_count_agg", 1000, "12", utc(2024, 3, 1), invoiceable=False, regroup_paid_fees="invoice")
    _send(api, at, database, org, "alice", "seats", utc(2024, 3, 15, 10), n="alice")
    assert _event_fees(api) == [("alice", 1200, "1", "1")]

    bill(database, org, utc(2024, 4, 1, 1))
    [march] = _period_invoices(api)
    assert fee_amounts(march) == [("subscription", "p", 1000)]  # the seat is not invoiced
    listed = ok(api.get("fees", params={"external_subscription_id": "sub", "fee_type": "charge"}))["fees"]
    renewed = [fee for fee in listed if fee["event_transaction_id"] is None]
    # April opens with Alice's carried seat: one fee without invoice, 12.00, for April.
    assert [(fee["amount_cents"], fee["units"], fee["lago_invoice_id"], fee["from_date"], fee["to_date"])
            for fee in renewed] == [(1200, "1", None, "2024-04-01T00:00:00Z", "2024-04-30T23:59:59Z")]
    created = [body["fee"]["lago_id"] for kind, body in _fee_webhooks(database, org)]
    assert created[-1] == renewed[0]["lago_id"]

    at(utc(2024, 4, 2))
    ok(api.put(f"fees/{renewed[0]['lago_id']}", json={"fee": {"payment_status": "succeeded"}}))
    bill(database, org, utc(2024, 5, 1, 1))
    [advance] = [invoice for invoice in invoices(api) if invoice["invoice_type"] == "advance_charges"]
    assert (fee_amounts(advance), advance["total_amount_cents"], advance["payment_status"]) == (
        [("charge", "seats", 1200)], 1200, "succeeded")
    # May opens with the same seat: a second renewal fee, pending.
    listed = ok(api.get("fees", params={"external_subscription_id": "sub", "fee_type": "charge"}))["fees"]
    assert [(fee["from_date"], fee["payment_status"]) for fee in listed if fee["event_transaction_id"] is None] == [
        ("2024-04-01T00:00:00Z", "succeeded"), ("2024-05-01T00:00:00Z", "pending")]


def _fee_webhooks(database: Database, org: Org) -> list[tuple[str, dict[str, Any]]]:
    with database.unit_of_work(write=False) as session:
        rows = session.execute(select(Webhook.webhook_type, Webhook.body).where(
            Webhook.organization_id == org.id, Webhook.webhook_type == "fee.created").order_by(Webhook.job_id)).all()
    return [(kind, json.loads(body)) for kind, body in rows]
