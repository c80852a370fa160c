"""``regroup_paid_fees: "invoice"``: the fees of a pay-in-advance charge that is not invoiceable are
recorded per event without invoice, marked paid one by one (``PUT /fees/{id}``), and gathered when
their charges window closes on an ``advance_charges`` invoice that is finalized and already paid."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from billow.core.db import Database
from billow.fees import tasks
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
    subscribe,
    utc,
)


def _send(api: httpx.Client, transaction_id: str, when: Any, n: int) -> None:
    ok(api.post("events", json={"event": {"transaction_id": transaction_id, "external_subscription_id": "sub",
                                          "code": "tokens", "timestamp": int(when.timestamp()),
                                          "properties": {"n": n}}}))


def _fee(api: httpx.Client, transaction_id: str) -> dict[str, Any]:
    listed = ok(api.get("fees", params={"external_subscription_id": "sub"}))["fees"]
    return next(fee for fee in listed if fee["event_transaction_id"] == transaction_id)  # type: ignore[no-any-return]


def _pay(api: httpx.Client, transaction_id: str, status: str = "succeeded") -> httpx.Response:
    return api.put(f"fees/{_fee(api, transaction_id)['lago_id']}", json={"fee": {"payment_status": status}})


def test_paid_fees_are_gathered_on_an_already_paid_invoice(api: httpx.Client, at: Clock, database: Database,
                                                           org: Org) -> None:
    listen(api)
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    tokens = metric(api, "tokens", "sum_agg", "n")
    created = plan(api, "p", 1000, charges=[
        {"billable_metric_id": tokens, "charge_model": "standard", "pay_in_advance": True, "invoiceable": False,
         "regroup_paid_fees": "invoice", "properties": {"amount": "0.01"}}])
    assert created["charges"][0]["regroup_paid_fees"] == "invoice"
    customer(api, "cus", tax_codes=["vat"])
    subscribe(api, at, "sub", "cus", "p", utc(2024, 3, 1))
    for transaction_id, day, n in (("t1", 3, 250), ("t2", 5, 333), ("t3", 20, 100)):
        at(utc(2024, 3, day, 10))
        _send(api, transaction_id, utc(2024, 3, day, 10), n)
        assert tasks.create_fees(database, utc(2024, 3, day, 10, 1), org.id) == 1
    # Fees without invoice, taxed one by one: 2.50 + 0.50 VAT, 3.33 + 0.666 -> 0.67, 1.00 + 0.20.
    assert [(_fee(api, t)["amount_cents"], _fee(api, t)["taxes_amount_cents"], _fee(api, t)["payment_status"],
             _fee(api, t)["lago_invoice_id"]) for t in ("t1", "t2", "t3")] == [
        (250, 50, "pending", None), (333, 67, "pending", None), (100, 20, "pending", None)]
    assert invoices(api) == []

    at(utc(2024, 3, 21, 9))
    paid = ok(_pay(api, "t1"))["fee"]
    assert (paid["payment_status"], paid["succeeded_at"]) == ("succeeded", "2024-03-21T09:00:00Z")
    ok(_pay(api, "t2"))
    bad = _pay(api, "t3", "paid")
    assert bad.status_code == 422 and "payment_status" in bad.json()["error_details"]
    assert _fee(api, "t3")["payment_status"] == "pending"  # the refused update changed nothing
    listed = ok(api.get("fees", params={"payment_status": "succeeded"}))["fees"]
    assert sorted(fee["event_transaction_id"] for fee in listed) == ["t1", "t2"]
    [found] = ok(api.get("fees", params={"event_transaction_id": "t3"}))["fees"]
    assert found["amount_cents"] == 100

    bill(database, org, utc(2024, 4, 1, 1))
    advance, subscription_invoice = sorted(invoices(api), key=lambda invoice: invoice["invoice_type"])
    # The plan's invoice: 10.00 + 20 % VAT; the regrouped fees are not billed on it again.
    assert subscription_invoice["invoice_type"] == "subscription"
    assert fee_amounts(subscription_invoice) == [("subscription", "p", 1000)]
    assert subscription_invoice["total_amount_cents"] == 1200
    # The paid fees t1 and t2 (t3 is unpaid): 2.50 + 3.33 = 5.83, their taxes as paid 0.50 + 0.67.
    assert (advance["invoice_type"], advance["status"], advance["payment_status"]) == (
        "advance_charges", "finalized", "succeeded")
    assert fee_amounts(advance) == [("charge", "tokens", 250), ("charge", "tokens", 333)]
    totals = ("fees_amount_cents", "taxes_amount_cents", "sub_total_excluding_taxes_amount_cents",
              "sub_total_including_taxes_amount_cents", "total_amount_cents", "total_due_amount_cents",
              "total_paid_amount_cents")
    assert [advance[name] for name in totals] == [583, 117, 583, 700, 700, 0, 700]
    [vat] = advance["applied_taxes"]
    assert (vat["tax_code"], vat["amount_cents"], vat["fees_amount_cents"]) == ("vat", 117, 583)
    [period] = advance["billing_periods"]
    assert (period["invoicing_reason"], period["charges_from_datetime"], period["charges_to_datetime"]) == (
        "in_advance_charge_periodic", "2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z")
    assert advance["issuing_date"] == subscription_invoice["issuing_date"] == "2024-04-01"
    assert _fee(api, "t1")["lago_invoice_id"] == advance["lago_id"]
    assert _pay(api, "t1", "refunded").status_code == 405  # on an invoice now: invoiced_fee
    assert _pay(api, "t1", "refunded").json()["code"] == "invoiced_fee"
    refused = api.delete(f"fees/{_fee(api, 't1')['lago_id']}")
    assert (refused.status_code, refused.json()["code"]) == (405, "invoiced_fee")

    bill(database, org, utc(2024, 4, 1, 2))  # billed once
    assert len(invoices(api)) == 2

    # t3 paid in April: on the invoice that closes April, with nothing else of April.
    at(utc(2024, 4, 2))
    ok(_pay(api, "t3"))
    bill(database, org, utc(2024, 5, 1, 1))
    advances = [invoice for invoice in invoices(api) if invoice["invoice_type"] == "advance_charges"]
    assert [(fee_amounts(invoice), invoice["total_amount_cents"]) for invoice in advances] == [
        ([("charge", "tokens", 250), ("charge", "tokens", 333)], 700), ([("charge", "tokens", 100)], 120)]


def test_fees_of_a_charge_without_regrouping_stay_without_invoice(api: httpx.Client, at: Clock, database: Database,
                                                                  org: Org) -> None:
    tokens = metric(api, "tokens", "sum_agg", "n")
    plan(api, "p", 0, charges=[{"billable_metric_id": tokens, "charge_model": "standard", "pay_in_advance": True,
                                "invoiceable": False, "properties": {"amount": "0.01"}}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "p", utc(2024, 3, 1))
    at(utc(2024, 3, 3))
    _send(api, "t1", utc(2024, 3, 3), 250)
    assert tasks.create_fees(database, utc(2024, 3, 3) + timedelta(seconds=10), org.id) == 1
    ok(_pay(api, "t1"))
    bill(database, org, utc(2024, 4, 1, 1))
    assert [invoice["invoice_type"] for invoice in invoices(api)] == ["subscription"]
    fee = _fee(api, "t1")
    assert fee["lago_invoice_id"] is None
    # Deleted: gone from the API, never priced again for its event.
    assert ok(api.delete(f"fees/{fee['lago_id']}"))["fee"]["lago_id"] == fee["lago_id"]
    assert ok(api.get("fees", params={"external_subscription_id": "sub", "fee_type": "charge"}))["fees"] == []
    assert api.get(f"fees/{fee['lago_id']}").status_code == 404
    assert api.delete(f"fees/{fee['lago_id']}").status_code == 404
    assert tasks.create_fees(database, utc(2024, 4, 1, 2), org.id) == 0


def test_regrouping_needs_a_pay_in_advance_charge_that_is_not_invoiceable(api: httpx.Client) -> None:
    tokens = metric(api, "tokens", "sum_agg", "n")
    for terms in ({"pay_in_advance": True, "invoiceable": True}, {"pay_in_advance": False}):
        body = {"name": "p", "code": "p", "interval": "monthly", "amount_cents": 0, "amount_currency": "EUR",
                "charges": [{"billable_metric_id": tokens, "charge_model": "standard", "regroup_paid_fees": "invoice",
                             "properties": {"amount": "1"}, **terms}]}
        refused = api.post("plans", json={"plan": body})
        assert refused.status_code == 422, refused.text
    assert ok(api.get("plans"))["plans"] == []


def test_the_termination_gathers_the_fees_paid_so_far(api: httpx.Client, at: Clock, database: Database,
                                                      org: Org) -> None:
    tokens = metric(api, "tokens", "sum_agg", "n")
    plan(api, "p", 3000, charges=[{"billable_metric_id": tokens, "charge_model": "standard", "pay_in_advance": True,
                                   "invoiceable": False, "regroup_paid_fees": "invoice",
                                   "properties": {"amount": "0.01"}}])
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "p", utc(2024, 4, 1))
    at(utc(2024, 4, 3))
    _send(api, "t1", utc(2024, 4, 3), 420)
    assert tasks.create_fees(database, utc(2024, 4, 3) + timedelta(seconds=10), org.id) == 1
    at(utc(2024, 4, 4))
    ok(_pay(api, "t1"))
    at(utc(2024, 4, 15, 12))
    ok(api.delete("subscriptions/sub"))
    bill(database, org, utc(2024, 4, 15, 13))
    # The fee's window runs to April 30, but the subscription ends: it is gathered now, 4.20.
    [advance] = [invoice for invoice in invoices(api) if invoice["invoice_type"] == "advance_charges"]
    assert (fee_amounts(advance), advance["total_amount_cents"], advance["issuing_date"]) == (
        [("charge", "tokens", 420)], 420, "2024-04-15")
