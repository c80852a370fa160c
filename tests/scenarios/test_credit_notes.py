"""Credit notes: credited, refunded, voided; credits consumed by later invoices after taxes; the
credit note of a pay-in-advance plan terminated mid-period."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from billow.core.db import Database
from billow.models import Webhook
from tests.conftest import Org
from tests.scenarios.conftest import (
    Clock,
    bill,
    customer,
    invoices,
    listen,
    ok,
    plan,
    subscribe,
    utc,
)
from tests.scenarios.test_coupons import apply, coupon, credits


def _taxed_customer(api: httpx.Client, external_id: str = "cus") -> None:
    ok(api.post("taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    customer(api, external_id, tax_codes=["vat"])


def _january(api: httpx.Client, at: Clock, database: Database, org: Org) -> dict[str, Any]:
    """A 31.00 EUR arrears plan with 20 % VAT, billed for January on February 1st."""
    plan(api, "base", 3100)
    _taxed_customer(api)
    subscribe(api, at, "sub", "cus", "base", utc(2024, 1, 1))
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1))
    [january] = invoices(api)
    assert (january["total_amount_cents"], january["taxes_amount_cents"]) == (3720, 620)  # 3100 + 20 %
    return january


def _items(invoice: dict[str, Any], amount_cents: int) -> list[dict[str, Any]]:
    return [{"fee_id": invoice["fees"][0]["lago_id"], "amount_cents": amount_cents}]


def create(api: httpx.Client, invoice: dict[str, Any], amount_cents: int, **amounts: int) -> dict[str, Any]:
    body = {"invoice_id": invoice["lago_id"], "reason": "other", "items": _items(invoice, amount_cents), **amounts}
    return ok(api.post("credit_notes", json={"credit_note": body}))["credit_note"]  # type: ignore[no-any-return]


def test_credit_is_consumed_by_the_next_invoice_after_taxes(api: httpx.Client, at: Clock, database: Database,
                                                            org: Org) -> None:
    listen(api)
    january = _january(api, at, database, org)
    at(utc(2024, 2, 10))
    note = create(api, january, 1000, credit_amount_cents=1200)
    # 1000 back on the 3100 fee + 20 % VAT = 200 -> 1200, all credited to the customer's balance.
    assert (note["number"], note["sequential_id"], note["issuing_date"]) == (f"{january['number']}-CN1", 1,
                                                                             "2024-02-10")
    assert (note["sub_total_excluding_taxes_amount_cents"], note["taxes_amount_cents"], note["total_amount_cents"],
            note["credit_amount_cents"], note["balance_amount_cents"], note["credit_status"],
            note["refund_status"]) == (1000, 200, 1200, 1200, 1200, "available", None)
    assert [(t["tax_code"], t["amount_cents"], t["base_amount_cents"]) for t in note["applied_taxes"]] == [
        ("vat", 200, 1000)]
    assert [(i["amount_cents"], i["fee"]["lago_id"]) for i in note["items"]] == [
        (1000, january["fees"][0]["lago_id"])]
    assert ok(api.get(f"invoices/{january['lago_id']}"))["invoice"]["credit_notes_amount_cents"] == 0  # not consumed

    at(utc(2024, 3, 1))
    bill(database, org, utc(2024, 3, 1))
    february = invoices(api)[-1]
    # February: 3100 + 620 VAT = 3720 incl. taxes; the credit note pays 1200 of it after taxes -> 2520.
    assert (february["sub_total_including_taxes_amount_cents"], february["credit_notes_amount_cents"],
            february["total_amount_cents"]) == (3720, 1200, 2520)
    assert credits(february) == [("credit_note", note["number"], 1200, False)]
    assert february["credits"][0]["item"]["name"] == january["number"]
    consumed = ok(api.get(f"credit_notes/{note['lago_id']}"))["credit_note"]
    assert (consumed["balance_amount_cents"], consumed["credit_status"]) == (0, "consumed")
    with database.unit_of_work(write=False) as session:
        bodies = session.scalars(select(Webhook.body).where(Webhook.organization_id == org.id,
                                                            Webhook.webhook_type == "credit_note.created")).all()
    assert [json.loads(body)["credit_note"]["lago_id"] for body in bodies] == [note["lago_id"]]

    at(utc(2024, 4, 1))
    bill(database, org, utc(2024, 4, 1))
    assert invoices(api)[-1]["total_amount_cents"] == 3720  # nothing left to consume


def test_refund_of_a_paid_invoice(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    january = _january(api, at, database, org)
    ok(api.put(f"invoices/{january['lago_id']}", json={"invoice": {"payment_status": "succeeded"}}))
    estimate = ok(api.post("credit_notes/estimate", json={"credit_note": {
        "invoice_id": january["lago_id"], "items": _items(january, 3100)}}))["estimated_credit_note"]
    # The whole fee: 3100 + 620 VAT = 3720, all of it paid, so all of it refundable.
    assert (estimate["max_creditable_amount_cents"], estimate["max_refundable_amount_cents"],
            estimate["max_offsettable_amount_cents"]) == (3720, 3720, 0)
    note = create(api, january, 3100, refund_amount_cents=3720)
    assert (note["total_amount_cents"], note["refund_amount_cents"], note["credit_amount_cents"],
            note["balance_amount_cents"], note["refund_status"], note["credit_status"]) == (
        3720, 3720, 0, 0, "pending", None)
    refunded = ok(api.put(f"credit_notes/{note['lago_id']}", json={"credit_note": {"refund_status": "succeeded"}}))
    assert refunded["credit_note"]["refund_status"] == "succeeded"
    # Nothing of the fee is left to credit.
    again = api.post("credit_notes", json={"credit_note": {"invoice_id": january["lago_id"],
                                                            "items": _items(january, 1), "credit_amount_cents": 1}})
    assert again.status_code == 422
    assert again.json()["error_details"]["amount_cents"] == ["higher_than_remaining_fee_amount"]
    at(utc(2024, 3, 1))
    bill(database, org, utc(2024, 3, 1))
    assert invoices(api)[-1]["credit_notes_amount_cents"] == 0  # a refund is no credit


def test_termination_mid_period_credits_the_unused_days_to_another_subscription(
        api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    plan(api, "advance", 2900, pay_in_advance=True)
    plan(api, "arrears", 3100)
    _taxed_customer(api)
    subscribe(api, at, "adv", "cus", "advance", utc(2024, 2, 1))
    subscribe(api, at, "arr", "cus", "arrears", utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1))
    [starting] = invoices(api)
    # The whole of February in advance: 2900 + 20 % = 3480.
    assert (starting["fees_amount_cents"], starting["total_amount_cents"]) == (2900, 3480)

    at(utc(2024, 2, 10, 12))
    ok(api.delete("subscriptions/adv"))
    [note] = ok(api.get("credit_notes", params={"external_customer_id": "cus"}))["credit_notes"]
    # February has 29 days; terminated on the 10th (a used day): 29 - 10 = 19 unused days.
    # 2900 x 19 / 29 = 1900; VAT 380; 2280 credited.
    assert (note["lago_invoice_id"], note["number"], note["reason"]) == (
        starting["lago_id"], f"{starting['number']}-CN1", "order_cancellation")
    assert (note["sub_total_excluding_taxes_amount_cents"], note["taxes_amount_cents"], note["total_amount_cents"],
            note["credit_amount_cents"], note["balance_amount_cents"]) == (1900, 380, 2280, 2280, 2280)

    bill(database, org, utc(2024, 2, 10, 13))  # the final invoice of "adv": no usage, nothing to pay
    at(utc(2024, 3, 1))
    bill(database, org, utc(2024, 3, 1))
    march = [i for i in invoices(api) if i["billing_periods"][0]["external_subscription_id"] == "arr"]
    # "arr" for February: 3100 + 620 = 3720; the credit note pays 2280 -> 1440.
    assert [(i["credit_notes_amount_cents"], i["total_amount_cents"]) for i in march] == [(2280, 1440)]
    after = ok(api.get(f"credit_notes/{note['lago_id']}"))["credit_note"]
    assert (after["credit_status"], after["balance_amount_cents"]) == ("consumed", 0)


def test_termination_with_refund_of_a_paid_fee_and_with_skip(api: httpx.Client, at: Clock, database: Database,
                                                            org: Org) -> None:
    plan(api, "advance", 3000, pay_in_advance=True)
    customer(api, "cus")
    subscribe(api, at, "one", "cus", "advance", utc(2024, 4, 1))
    subscribe(api, at, "two", "cus", "advance", utc(2024, 4, 1))
    bill(database, org, utc(2024, 4, 1))
    for invoice in invoices(api):
        ok(api.put(f"invoices/{invoice['lago_id']}", json={"invoice": {"payment_status": "succeeded"}}))
    at(utc(2024, 4, 21))
    ok(api.delete("subscriptions/one", params={"on_termination_credit_note": "refund"}))
    ok(api.delete("subscriptions/two", params={"on_termination_credit_note": "skip"}))
    [note] = ok(api.get("credit_notes"))["credit_notes"]
    # April has 30 days; terminated on the 21st: 9 unused days x 3000 / 30 = 900, refunded (no tax).
    assert (note["total_amount_cents"], note["refund_amount_cents"], note["credit_amount_cents"],
            note["refund_status"]) == (900, 900, 0, "pending")


def test_void_ends_what_is_left_of_the_credit(api: httpx.Client, at: Clock, database: Database, org: Org) -> None:
    january = _january(api, at, database, org)
    note = create(api, january, 500, credit_amount_cents=600)  # 500 + 100 VAT
    voided = ok(api.put(f"credit_notes/{note['lago_id']}/void"))["credit_note"]
    assert (voided["credit_status"], voided["balance_amount_cents"], voided["total_amount_cents"]) == (
        "voided", 0, 600)
    again = api.put(f"credit_notes/{note['lago_id']}/void")
    assert (again.status_code, again.json()["code"]) == (405, "no_voidable_amount")
    at(utc(2024, 3, 1))
    bill(database, org, utc(2024, 3, 1))
    assert (invoices(api)[-1]["credit_notes_amount_cents"], invoices(api)[-1]["total_amount_cents"]) == (0, 3720)
    listed = ok(api.get("credit_notes", params={"credit_status": "voided"}))["credit_notes"]
    assert [n["lago_id"] for n in listed] == [note["lago_id"]]
    assert ok(api.get("credit_notes", params={"credit_status": "available"}))["credit_notes"] == []


def test_estimate_equals_create_on_an_invoice_with_a_coupon(api: httpx.Client, at: Clock, database: Database,
                                                            org: Org) -> None:
    plan(api, "base", 3100)
    _taxed_customer(api)
    coupon(api, "tenpct", coupon_type="percentage", percentage_rate="10")
    subscribe(api, at, "sub", "cus", "base", utc(2024, 1, 1))
    apply(api, at, "cus", "tenpct", utc(2024, 1, 2))
    at(utc(2024, 2, 1))
    bill(database, org, utc(2024, 2, 1))
    [january] = invoices(api)
    # 3100 - 10 % (310) = 2790; VAT 558 -> 3348.
    assert (january["coupons_amount_cents"], january["total_amount_cents"]) == (310, 3348)
    estimate = ok(api.post("credit_notes/estimate", json={"credit_note": {
        "invoice_id": january["lago_id"], "items": _items(january, 1000)}}))["estimated_credit_note"]
    # 1000 back carries its coupon share 1000 x 310 / 3100 = 100: 900 before taxes, VAT 180, 1080 in all.
    assert (estimate["coupons_adjustment_amount_cents"], estimate["sub_total_excluding_taxes_amount_cents"],
            estimate["taxes_amount_cents"], estimate["max_creditable_amount_cents"],
            estimate["max_refundable_amount_cents"]) == (100, 900, 180, 1080, 0)
    assert estimate["items"] == [{"lago_fee_id": january["fees"][0]["lago_id"], "amount_cents": 1000}]
    note = create(api, january, 1000, credit_amount_cents=estimate["max_creditable_amount_cents"])
    assert (note["coupons_adjustment_amount_cents"], note["sub_total_excluding_taxes_amount_cents"],
            note["taxes_amount_cents"], note["total_amount_cents"], note["taxes_rate"]) == (
        estimate["coupons_adjustment_amount_cents"], estimate["sub_total_excluding_taxes_amount_cents"],
        estimate["taxes_amount_cents"], 1080, estimate["taxes_rate"])
    assert [(t["amount_cents"], t["base_amount_cents"]) for t in note["applied_taxes"]] == [
        (t["amount_cents"], t["base_amount_cents"]) for t in estimate["applied_taxes"]]


def test_upgrade_of_a_plan_paid_in_advance_credits_the_unused_day(api: httpx.Client, at: Clock,
                                                                  database: Database, org: Org) -> None:
    # lago-semantics 5.3: 10.00 EUR/month in advance, anniversary on the 29th, upgraded on Sep 28 to a yearly plan.
    plan(api, "monthly", 1000, pay_in_advance=True)
    plan(api, "yearly", 12000, interval="yearly", pay_in_advance=True)
    customer(api, "cus")
    subscribe(api, at, "sub", "cus", "monthly", utc(2023, 8, 29), billing_time="anniversary")
    bill(database, org, utc(2023, 8, 29, 1))
    [starting] = invoices(api)
    assert starting["fees_amount_cents"] == 1000  # Aug 29 - Sep 28, in advance, whole
    at(utc(2023, 9, 28, 10))
    ok(api.post("subscriptions", json={"subscription": {"external_customer_id": "cus", "plan_code": "yearly",
                                                        "external_id": "sub"}}))
    [note] = ok(api.get("credit_notes"))["credit_notes"]
    # The period Aug 29 - Sep 28 has 31 days; on an upgrade the upgrade day is credited too: 1 day.
    # 1000 x 1 / 31 = 32.26 -> 32.
    assert (note["lago_invoice_id"], note["reason"], note["total_amount_cents"], note["credit_amount_cents"]) == (
        starting["lago_id"], "order_change", 32, 32)


def test_voiding_an_invoice_gives_its_credit_notes_their_credit_back(api: httpx.Client, at: Clock,
                                                                     database: Database, org: Org) -> None:
    january = _january(api, at, database, org)
    note = create(api, january, 1000, credit_amount_cents=1200)
    at(utc(2024, 3, 1))
    bill(database, org, utc(2024, 3, 1))
    february = invoices(api)[-1]
    assert february["credit_notes_amount_cents"] == 1200  # 3720 - 1200 = 2520 due
    ok(api.post(f"invoices/{february['lago_id']}/void"))
    back = ok(api.get(f"credit_notes/{note['lago_id']}"))["credit_note"]
    assert (back["credit_status"], back["balance_amount_cents"]) == ("available", 1200)
    at(utc(2024, 4, 1))
    bill(database, org, utc(2024, 4, 1))
    assert invoices(api)[-1]["total_amount_cents"] == 2520  # March: 3720 - the 1200 credited again
