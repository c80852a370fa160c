"""Coupons and credit notes spent by an invoice are spent once: pricing a finalized invoice again
gives back what it took and takes exactly the same."""

from __future__ import annotations

import uuid

import httpx

from billow.core.db import Database
from billow.invoices import service
from billow.models import Invoice
from tests.conftest import Org
from tests.scenarios.conftest import Clock, bill, customer, invoices, ok, plan, subscribe, utc
from tests.scenarios.test_coupons import applied, apply, coupon, credits


def test_pricing_a_finalized_invoice_again_spends_nothing_more(api: httpx.Client, at: Clock, database: Database,
                                                               org: Org) -> None:
    plan(api, "base", 3100)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "base", utc(2024, 1, 1))
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1))
    [january] = invoices(api)
    note = ok(api.post("credit_notes", json={"credit_note": {
        "invoice_id": january["lago_id"], "credit_amount_cents": 1000,
        "items": [{"fee_id": january["fees"][0]["lago_id"], "amount_cents": 1000}]}}))["credit_note"]
    coupon(api, "tenpct", coupon_type="percentage", percentage_rate="10")
    coupon(api, "fivex2", coupon_type="fixed_amount", amount_cents=500, amount_currency="EUR", frequency="recurring",
           frequency_duration=2)
    apply(api, at, "cus", "tenpct", utc(2024, 2, 2))
    apply(api, at, "cus", "fivex2", utc(2024, 2, 2, 1))
    at(utc(2024, 3, 1))
    bill(database, org, utc(2024, 3, 1))
    february = invoices(api)[-1]
    # 3100 - 10 % (310) - 500 = 2290 before taxes (none); the credit note pays 1000 of it -> 1290.
    expected = [("coupon", "tenpct", 310, True), ("coupon", "fivex2", 500, True),
                ("credit_note", note["number"], 1000, False)]
    assert credits(february) == expected
    assert february["total_amount_cents"] == 1290

    with database.unit_of_work() as session:
        invoice = session.get_one(Invoice, uuid.UUID(february["lago_id"]))
        service.recompute(session, invoice, finalize=True)

    again = ok(api.get(f"invoices/{february['lago_id']}"))["invoice"]
    assert credits(again) == expected
    assert (again["coupons_amount_cents"], again["credit_notes_amount_cents"], again["total_amount_cents"]) == (
        810, 1000, 1290)
    after = applied(api, "cus")
    assert after["tenpct"]["status"] == "terminated"  # a once percentage coupon, used once
    assert (after["fivex2"]["status"], after["fivex2"]["frequency_duration_remaining"]) == ("active", 1)
    assert [c["amount_cents"] for c in after["fivex2"]["credits"]] == [500]
    consumed = ok(api.get(f"credit_notes/{note['lago_id']}"))["credit_note"]
    assert (consumed["balance_amount_cents"], consumed["credit_status"]) == (0, "consumed")
